/**
 * The self-checking programs in examples/ (what `npm run examples` runs), run here too so that they keep working:
 * each is compiled with the tree and must exit 0 within its time limit.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// build/test/docs/examples.test.js -> the repository root.
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const NAMES = readdirSync(join(ROOT, 'examples'))
  .filter((name) => name.endsWith('.ts'))
  .map((name) => name.slice(0, -3))
  .sort();

function run(file: string, limitMs: number): Promise<{ code: number | string; output: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [file], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      done({ code: code ?? signal ?? -1, output });
    });
  });
}

describe('examples/', () => {
  it('has one program per manual section 1.5 to 2.2', () => {
    for (const name of ['server-loop', 'client', 'reading', 'fragments', 'writes', 'port-sharing']) {
      assert.ok(NAMES.includes(name), `examples/${name}.ts`);
    }
  });

  for (const name of NAMES) {
    it(`${name} checks its own result and exits 0`, async () => {
      const file = join(ROOT, 'build', 'examples', `${name}.js`);
      assert.ok(existsSync(file), `${file} is compiled with the tree`);
      const { code, output } = await run(file, 60_000);
      assert.equal(code, 0, output);
      assert.match(output, /: ok\n/);
    });
  }
});

// `npm run examples`: compiles the tree (src, test, bench, examples) and runs every program in examples/ from
// build/examples/, one after the other. Each checks its own result and exits non-zero when it is wrong; this
// script reports each one and fails if any did (or ran past the time limit). Extra arguments filter by name;
// `--no-build` runs what is in build/examples/ already. Each program runs on the runtime that runs this script
// (CI runs it with Bun too: `bun scripts/examples.mjs --no-build`).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const LIMIT_MS = 120_000;
const args = process.argv.slice(2);
if (!args.includes('--no-build')) {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { stdio: 'inherit' });
}

const filters = args.filter((a) => a !== '--no-build');
const names = readdirSync('examples')
  .filter((name) => name.endsWith('.ts'))
  .map((name) => name.slice(0, -3))
  .filter((name) => filters.length === 0 || filters.some((f) => name.includes(f)))
  .sort();
if (names.length === 0) {
  console.error('no example matched');
  process.exit(1);
}
const failed = [];
for (const name of names) {
  const file = join('build', 'examples', `${name}.js`);
  if (!existsSync(file)) {
    console.error(`${name}: not compiled (${file} is missing)`);
    failed.push(name);
    continue;
  }
  const started = Date.now();
  const run = spawnSync(process.execPath, [file], { stdio: 'inherit', timeout: LIMIT_MS, killSignal: 'SIGKILL' });
  const ms = Date.now() - started;
  if (run.status === 0) {
    console.log(`PASS ${name} (${ms} ms)`);
  } else {
    const why = run.error ? run.error.message : run.signal ? `killed by ${run.signal}` : `exit status ${run.status}`;
    console.error(`FAIL ${name}: ${why}`);
    failed.push(name);
  }
}
console.log(`\n${names.length - failed.length} of ${names.length} examples passed`);
if (failed.length > 0) {
  console.error(`failed: ${failed.join(', ')}`);
  process.exit(1);
}

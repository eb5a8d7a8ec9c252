/**
 * The `nopoll/redis` entry point as users load it (package.json "exports"): from ESM and from CommonJS, without
 * loading the `redis` package itself (the client is the user's), and without changing what `nopoll` loads.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';

// Runs a snippet in a fresh Node process from the repository root (so `nopoll` resolves to this package).
function run(args: string[]): { status: number | null; out: string } {
  const result = spawnSync(process.execPath, args, {
    cwd: new URL('../../..', import.meta.url).pathname,
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { status: result.status, out: `${result.stdout}${result.stderr}` };
}

describe('the nopoll/redis entry', () => {
  it('loads with require and import, exports redisBackplane, and loads no Redis client of its own', () => {
    const cjs = run([
      '-e',
      "const m = require('nopoll/redis'); const loaded = Object.keys(require.cache).filter((k) => k.includes('/node_modules/redis/') || k.includes('/node_modules/@redis/')); console.log(typeof m.redisBackplane, loaded.length, typeof require('nopoll').PubSubClient);",
    ]);
    assert.equal(cjs.status, 0, cjs.out);
    assert.equal(cjs.out.trim(), 'function 0 function');
    const esm = run([
      '--input-type=module',
      '-e',
      "const m = await import('nopoll/redis'); console.log(typeof m.redisBackplane);",
    ]);
    assert.equal(esm.status, 0, esm.out);
    assert.equal(esm.out.trim(), 'function');
    // A client that is not a node-redis client is refused at once.
    const refused = run([
      '-e',
      "try { require('nopoll/redis').redisBackplane({ client: {} }); } catch (e) { console.log(e.name); }",
    ]);
    assert.equal(refused.out.trim(), 'TypeError');
  });
});

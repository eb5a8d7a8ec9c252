// `npm run fuzz -- --iterations N [--seed S] [--connections C]`: the long fuzz run of issue 6 (the quick one is
// test/fuzz/fuzz.test.ts). Compiles the tree, fuzzes the protocol core for N streams and a live listener for C
// connections (default N / 10), prints the figures and exits 1 on any problem.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { iterations: { type: 'string' }, seed: { type: 'string' }, connections: { type: 'string' } },
});
const iterations = Number(values.iterations ?? 10000);
const seed = Number(values.seed ?? Date.now() % 2 ** 31);
const connections = Number(values.connections ?? Math.max(10, Math.floor(iterations / 10)));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { stdio: 'inherit' });

const { fuzzCore, fuzzLive } = await import('../build/test/fuzz/fuzzer.js');
const { startEchoListener } = await import('../build/test/helpers/ws-peers.js');

const rss = () => Math.round(process.memoryUsage().rss / 1024 / 1024);
console.log(`seed ${seed}, ${iterations} core iterations, ${connections} live connections; RSS ${rss()} MiB`);
let started = Date.now();
const core = fuzzCore(iterations, seed);
console.log(
  `core: ${core.iterations} streams, ${(core.bytes / 1048576).toFixed(1)} MiB, ${core.messages} messages delivered, ` +
    `${core.failedConnections} failed as they should, ${core.problems.length} problems, ${Date.now() - started} ms; RSS ${rss()} MiB`,
);
const srv = await startEchoListener({
  handshakeTimeoutMs: 400,
  closeTimeoutMs: 300,
  idleTimeoutMs: 500,
  maxMessageSize: 256 * 1024,
  maxFrameSize: 128 * 1024,
});
started = Date.now();
const live = await fuzzLive(srv.port, connections, seed, 32, 8000);
console.log(
  `live: ${live.connections} connections, ${live.upgraded} upgraded, ${live.problems.length} problems, ${Date.now() - started} ms; RSS ${rss()} MiB`,
);
await srv.close();
for (const p of [...core.problems, ...live.problems].slice(0, 20)) console.log('PROBLEM', p);
process.exit(core.problems.length + live.problems.length === 0 ? 0 : 1);

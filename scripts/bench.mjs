// `npm run bench [-- options]`: compile (the whole tree, or bench/ alone when src/ does not compile), build the
// package the nopoll CLI runs from, then run build/bench/run.js with the given options (`-- --help` lists them).
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

process.chdir(fileURLToPath(new URL('..', import.meta.url)));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const args = process.argv.slice(2);
const t0 = Date.now();
const seconds = (since) => `${((Date.now() - since) / 1000).toFixed(1)} s`;

function run(argv) {
  return spawnSync(process.execPath, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function firstLines(result, count) {
  const lines = `${result.stdout}${result.stderr}`.split('\n').filter((l) => l.trim() !== '');
  const shown = lines
    .slice(0, count)
    .map((l) => `    ${l}`)
    .join('\n');
  return lines.length > count ? `${shown}\n    ... ${lines.length - count} more lines` : shown;
}

function benchSources(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...benchSources(path));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

// 1. Compile. The whole tree first, as `npm test` does; if that fails (others may be mid-edit in src/), compile
//    only bench/ with the same options. Files named on the command line make tsc ignore tsconfig.json, so the
//    options from tsconfig.base.json are repeated here.
// build/bench is not deleted first: others may be running its files (a load generator, a server) right now, and
// tsc overwrites every output anyway.
let step = Date.now();
const whole = run([tsc, '-p', 'tsconfig.json']);
if (whole.status === 0) {
  console.log(`bench: compiled the whole tree (${seconds(step)})`);
} else {
  console.log('bench: the whole-tree compile failed (src/ or test/ mid-edit?); compiling bench/ alone. First errors:');
  console.log(firstLines(whole, 8));
  step = Date.now();
  const alone = run([
    tsc,
    ...['--rootDir', '.', '--outDir', 'build'],
    ...['--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022', '--lib', 'ES2022'],
    ...['--types', 'node', '--strict', '--noImplicitOverride', '--noFallthroughCasesInSwitch'],
    ...['--noUnusedLocals', '--noUnusedParameters', '--useUnknownInCatchVariables', '--skipLibCheck'],
    ...['--esModuleInterop', '--forceConsistentCasingInFileNames', '--sourceMap', '--newLine', 'lf'],
    ...benchSources('bench'),
  ]);
  if (alone.status !== 0) {
    console.error('bench: bench/ does not compile on its own either:');
    console.error(firstLines(alone, 40));
    process.exit(1);
  }
  console.log(`bench: compiled bench/ alone (${seconds(step)})`);
}

// 2. Build the package (dist/), which bin/nopoll.js runs from. Not needed for micro-only runs or runs without
//    nopoll. A failed build is not fatal: the harness then reports nopoll as unavailable (or runs a stale dist/).
const serversArg = args.indexOf('--servers');
const wantsNopoll = serversArg < 0 || (args[serversArg + 1] ?? '').split(',').some((s) => s.startsWith('nopoll'));
if (
  !args.includes('--micro') &&
  !args.includes('--help') &&
  !args.includes('--charts') &&
  wantsNopoll &&
  process.env.NOPOLL_BENCH_BIN === undefined
) {
  step = Date.now();
  const build = run(['scripts/build.mjs']);
  if (build.status === 0) console.log(`bench: built the package (${seconds(step)})`);
  else {
    console.log('bench: WARNING: the package build failed; nopoll rows may be unavailable or use a stale dist/:');
    console.log(firstLines(build, 8));
  }
}

// 3. Run. Ctrl-C reaches the child too (same process group); it stops its servers and exits, then so do we.
console.log(`bench: ready after ${seconds(t0)}`);
// `--http2` runs the HTTP/2 comparison (bench/http2.ts) instead of the main benchmark.
const http2 = args.includes('--http2');
const child = spawn(
  process.execPath,
  [http2 ? 'build/bench/http2.js' : 'build/bench/run.js', ...args.filter((a) => a !== '--http2')],
  { stdio: 'inherit' },
);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => {
  console.log(`bench: total ${seconds(t0)}`);
  process.exit(code ?? (signal === null ? 1 : 130));
});

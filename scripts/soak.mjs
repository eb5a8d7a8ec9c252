// `npm run soak -- [--seconds N] [--connections N] [--cycles N] [--fault-percent P] [--restart-signal SIGTERM|SIGKILL|none]
// [--settle-seconds N] [--server-env NAME=VALUE]... [--server-flag FLAG]... [--heap-snapshots DIR]`: the load and
// fault soak of issue 6 item 4 (not part of npm test). Compiles the tree and runs bench/soak/soak.ts, which forks the
// server (bench/soak/server.ts) with --expose-gc, restarts it as a new process in cycle 1, prints the figures and
// exits 1 on any loss, reorder, handle leak or memory growth across cycles beyond its bounds.
import { execFileSync, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { stdio: 'inherit' });
const run = spawnSync(process.execPath, ['build/bench/soak/soak.js', ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(run.status ?? 1);

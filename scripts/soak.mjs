// `npm run soak -- [--seconds N] [--connections N] [--fault-percent P]`: the load and fault soak of issue 6 item 4
// (not part of npm test). Compiles the tree and runs bench/soak/soak.ts, which forks the server
// (bench/soak/server.ts) with --expose-gc, prints the figures and exits 1 on any loss, reorder or handle leak.
import { execFileSync, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { stdio: 'inherit' });
const run = spawnSync(process.execPath, ['build/bench/soak/soak.js', ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(run.status ?? 1);

/**
 * Load generator process. Forked by run.ts with one job over IPC; runs it, sends the result back, exits. It runs
 * alone in its own process (and so on its own core, on a 2-core machine) so its work never shares the server's.
 */
import type { Job, JobResult } from '../lib/jobs.js';
import { runEcho } from './echo.js';
import { runFanout } from './fanout.js';
import { runIdle } from './idle.js';
import { runLifecycle } from './lifecycle.js';
import { runRate } from './rate.js';
import { runSubscriptionMemory } from './submem.js';

async function run(job: Job): Promise<JobResult> {
  switch (job.type) {
    case 'echo':
      return runEcho(job);
    case 'rate':
      return runRate(job);
    case 'lifecycle':
      return runLifecycle(job);
    case 'idle':
      return runIdle(job);
    case 'fanout':
      return runFanout(job);
    case 'submem':
      return runSubscriptionMemory(job);
  }
}

if (process.send === undefined) {
  console.error('bench/loadgen/main.js is started by bench/run.js (npm run bench), not directly.');
  process.exit(2);
}
// Never outlive the orchestrator.
process.on('disconnect', () => process.exit(1));
process.once('message', (job: Job) => {
  run(job)
    .catch((error: unknown): JobResult => ({
      ok: false,
      error: error instanceof Error ? error.message : String(error),
    }))
    .then((result) => process.send!(result, () => process.exit(0)));
});

/** The load generator as a child process: one job in, one result out (bench/loadgen/main.ts). */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Job, JobResult } from './jobs.js';
import { BENCH_BUILD } from './paths.js';
import { trackChild } from './servers.js';

/** Runs one job in a fresh load-generator process. */
export function runLoadgen(job: Job, timeoutMs: number): Promise<JobResult> {
  const child = spawn(process.execPath, [join(BENCH_BUILD, 'loadgen', 'main.js')], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  trackChild(child);
  return new Promise((resolve) => {
    let done = false;
    const finish = (result: JobResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (child.exitCode === null) child.kill('SIGKILL');
      resolve(result);
    };
    const timer = setTimeout(
      () => finish({ ok: false, error: `load generator timed out after ${timeoutMs} ms` }),
      timeoutMs,
    );
    child.once('message', (message) => finish(message as JobResult));
    child.once('error', (error) => finish({ ok: false, error: `load generator: ${error.message}` }));
    child.once('exit', (code, signal) =>
      finish({ ok: false, error: `load generator exited (${signal ?? `code ${code}`})` }),
    );
    child.send(job);
  });
}

/**
 * Runs one exported function of a compiled module in a worker thread, with a deadline. A regular expression that
 * backtracks catastrophically cannot be interrupted on the main thread (no timer fires while it runs), so a ReDoS
 * test run there would hang instead of failing; in a worker, the deadline rejects and the worker is terminated.
 * The deadline is a generous bound (seconds for work that takes milliseconds), not a measurement.
 */
import { Worker } from 'node:worker_threads';

// CommonJS (an eval'd worker), loading the ES module with import(). The result comes back as JSON.
const SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
import(workerData.url).then((m) => {
  let value;
  try {
    value = JSON.stringify(m[workerData.name](...workerData.args));
  } catch (error) {
    parentPort.postMessage({ ok: false, error: String((error && error.stack) || error) });
    return;
  }
  parentPort.postMessage({ ok: true, value });
}, (error) => parentPort.postMessage({ ok: false, error: String((error && error.stack) || error) }));
`;

/**
 * Calls `name(...args)` from the module at `url` in a worker; resolves with its result (through JSON), rejects
 * when it throws or when it has not returned within `deadlineMs`.
 */
export function callWithDeadline(url: URL, name: string, args: unknown[], deadlineMs: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(SOURCE, { eval: true, workerData: { url: url.href, name, args } });
    let settled = false;
    const settle = (done: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void worker.terminate();
      done();
    };
    const timer = setTimeout(
      () => settle(() => reject(new Error(`${name}() did not return within ${deadlineMs} ms`))),
      deadlineMs,
    );
    worker.once('message', (m: { ok: boolean; value?: string; error?: string }) =>
      settle(() =>
        m.ok ? resolve(m.value === undefined ? undefined : JSON.parse(m.value)) : reject(new Error(m.error)),
      ),
    );
    worker.once('error', (error) => settle(() => reject(error)));
    worker.once('exit', (code) => settle(() => reject(new Error(`the worker exited with ${code} before answering`))));
  });
}

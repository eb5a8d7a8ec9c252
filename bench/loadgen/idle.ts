/**
 * Idle memory: the server's resident set grows by how much when it holds N upgraded, silent connections? RSS is
 * read from /proc before and after, each time once it has stopped moving, and the difference divided by N.
 */
import type { IdleJob, JobSuccess } from '../lib/jobs.js';
import { processRssBytes } from '../lib/procfs.js';
import { closeAll, openMany } from './connect.js';
import { buildCompressedClientFrame, OP_TEXT, ReplyReader, textPayloadOf } from './frames.js';
import { sleep } from './window.js';

/** Samples RSS every `stepMs` until two samples in a row differ by less than 0.5 %, or `maxMs` passes. */
export async function settledRss(pid: number, stepMs: number, maxMs: number): Promise<number> {
  let previous = processRssBytes(pid);
  if (previous === null) throw new Error('cannot read the server RSS from /proc');
  for (let waited = 0; waited < maxMs; waited += stepMs) {
    await sleep(stepMs);
    const current = processRssBytes(pid);
    if (current === null) throw new Error('server exited');
    const stable = Math.abs(current - previous) < previous * 0.005;
    previous = current;
    if (stable) break;
  }
  return previous;
}

export async function runIdle(job: IdleJob): Promise<JobSuccess> {
  const pid = job.target.pid;
  const before = await settledRss(pid, 200, 2_000);
  const t0 = performance.now();
  const connections = await openMany(job.target, job.connections, job.concurrency, job.deflate === true);
  if (job.exchange === true) {
    // One compressed message per connection, 200 at a time, each waiting for its echo.
    const frame = buildCompressedClientFrame(OP_TEXT, textPayloadOf(2048));
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < connections.length) {
        const { socket, leftover } = connections[next++]!;
        const reader = new ReplyReader(0);
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('no echo within 10 s')), 10_000);
          const onData = (chunk: Buffer): void => {
            if (reader.feed(chunk) > 0) {
              clearTimeout(timer);
              socket.off('data', onData);
              resolve();
            }
          };
          socket.on('data', onData);
          socket.write(frame);
          if (leftover.length > 0) onData(leftover);
        });
      }
    };
    await Promise.all(Array.from({ length: Math.min(job.concurrency, connections.length) }, lane));
  }
  const openMs = performance.now() - t0;
  let closedEarly = 0;
  for (const { socket } of connections) {
    socket.on('data', () => {});
    socket.on('error', () => {});
    socket.on('close', () => {
      closedEarly++;
    });
  }
  await sleep(job.settleMs);
  const after = await settledRss(pid, 250, 3_000);
  const errors = closedEarly;
  for (const { socket } of connections) socket.removeAllListeners('close');
  await closeAll(connections);
  return {
    ok: true,
    operations: 0,
    payloadBytes: 0,
    window: null,
    latency: null,
    idle: {
      connections: job.connections,
      rssBeforeBytes: before,
      rssAfterBytes: after,
      bytesPerConnection: (after - before) / job.connections,
      openMs,
    },
    errors,
    notes: errors > 0 ? [`${errors} connections closed by the server while idle`] : [],
  };
}

/**
 * Memory per subscription (SubscriptionMemoryJob): the server's RSS with N silent connections, then with each
 * subscribed to K topics (the server's answer `ok` confirms each), both read once they stopped moving. The
 * difference over N x K is what one (connection, topic) pair costs.
 */
import type { JobSuccess, SubscriptionMemoryJob } from '../lib/jobs.js';
import { closeAll, openMany } from './connect.js';
import { settledRss } from './idle.js';
import { sleep } from './window.js';

/** A masked (zero key) client text frame. */
function textFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length, 0, 0, 0, 0]), payload]);
}

export async function runSubscriptionMemory(job: SubscriptionMemoryJob): Promise<JobSuccess> {
  const pid = job.target.pid;
  const connections = await openMany(job.target, job.connections, 200);
  let answered = 0;
  let closedEarly = 0;
  for (const { socket } of connections) {
    // The answer is one small frame ("ok"): any data counts.
    socket.on('data', () => answered++);
    socket.on('error', () => undefined);
    socket.on('close', () => closedEarly++);
  }
  await sleep(1000);
  const before = await settledRss(pid, 250, 3000);
  const request = textFrame(`sub ${job.topicsPerConnection}`);
  for (let i = 0; i < connections.length; i++) {
    connections[i]!.socket.write(request);
    if (i % 500 === 499) await sleep(5);
  }
  const deadline = Date.now() + 30_000;
  while (answered < connections.length && Date.now() < deadline) await sleep(50);
  await sleep(1000);
  const after = await settledRss(pid, 250, 3000);
  for (const { socket } of connections) socket.removeAllListeners('close');
  await closeAll(connections);
  const subscriptions = job.connections * job.topicsPerConnection;
  const notes = answered < connections.length ? [`only ${answered} of ${connections.length} subscribed`] : [];
  return {
    ok: true,
    operations: 0,
    payloadBytes: 0,
    window: null,
    latency: null,
    idle: null,
    subscriptionMemory: { subscriptions, rssBeforeBytes: before, rssAfterBytes: after, bytesPerSubscription: (after - before) / subscriptions },
    errors: closedEarly,
    notes,
  };
}

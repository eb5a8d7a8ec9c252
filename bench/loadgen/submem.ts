/**
 * Memory per subscription (SubscriptionMemoryJob): the server's live JavaScript heap (after a full collection) with
 * N connections that each exchanged one message, then with each subscribed to K topics (the server's answer `ok`
 * confirms each). The difference over N x K is what one (connection, topic) pair costs. RSS is read too (once it
 * stopped moving); it also holds heap pages V8 keeps after collecting the garbage of the requests.
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
  // Each connection asks for `sub N` and waits for every answer; the first round (`sub 0`) subscribes nothing but
  // makes the server build what a connection needs to receive a message, so that is not counted as subscriptions.
  const ask = async (topics: number): Promise<void> => {
    answered = 0;
    const request = textFrame(`sub ${topics} ${job.topicPool}`);
    for (let i = 0; i < connections.length; i++) {
      connections[i]!.socket.write(request);
      if (i % 500 === 499) await sleep(5);
    }
    const deadline = Date.now() + 30_000;
    while (answered < connections.length && Date.now() < deadline) await sleep(50);
    await sleep(1000);
  };
  // The server's live JavaScript heap after a full collection (its answer to `mem` on the first connection).
  const heap = async (): Promise<number> => {
    const { socket } = connections[0]!;
    const reply = new Promise<number>((resolve) => {
      const onData = (chunk: Buffer): void => {
        const text = chunk.toString('latin1');
        const at = text.indexOf('mem ');
        if (at < 0) return;
        socket.off('data', onData);
        resolve(Number.parseInt(text.slice(at + 4), 10));
      };
      socket.on('data', onData);
    });
    socket.write(textFrame('mem'));
    return reply;
  };
  await ask(0);
  const before = await settledRss(pid, 250, 3000);
  const heapBefore = await heap();
  await ask(job.topicsPerConnection);
  const after = await settledRss(pid, 250, 3000);
  const heapAfter = await heap();
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
    subscriptionMemory: {
      subscriptions,
      rssBeforeBytes: before,
      rssAfterBytes: after,
      heapBeforeBytes: heapBefore,
      heapAfterBytes: heapAfter,
      bytesPerSubscription: (heapAfter - heapBefore) / subscriptions,
    },
    errors: closedEarly,
    notes,
  };
}

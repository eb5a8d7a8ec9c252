/**
 * Slow subscribers (src/api/slow-subscriber.ts, conn-topics.ts): a raw peer that stops reading while messages are
 * published to it and to a fast nopoll client. Under every policy the fast one gets everything, in order, and the
 * server's unsent bytes for the slow one stay near the cap; then the slow one reads again and what it gets is
 * checked against the policy: a subsequence (`drop`), a 1008 close (`close`), the newest message per topic
 * (`latest`).
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import type { Conn } from '../../src/api/conn.js';
import { Conn as ConnClass } from '../../src/api/conn.js';
import { Context } from '../../src/api/context.js';
import type { SlowSubscriberPolicy } from '../../src/api/slow-subscriber.js';
import { rawUpgrade, type Frame, type RawClient } from '../helpers/net.js';
import { startTopicServer, until, type TopicServer } from '../helpers/pubsub.js';
import { delay, withTimeout } from '../helpers/ws-async.js';

const CAP = 256 * 1024;
const SIZE = 64 * 1024;
// Well past what the kernel buffers for a socket nobody reads on loopback.
const COUNT = 400;

interface Setup {
  server: TopicServer;
  slow: RawClient;
  slowConn: Conn;
  fast: Conn;
  fastGot: string[];
}

async function setup(
  t: TestContext,
  policy: SlowSubscriberPolicy,
  topics: string[],
  closeTimeoutMs = 500,
): Promise<Setup> {
  const server = await startTopicServer(t, {
    context: { closeTimeoutMs, pubsub: { maxQueuedBytes: CAP, slowSubscriber: policy } },
  });
  const slow = await rawUpgrade(server.port, '127.0.0.1', `/${topics[0]}`);
  t.after(() => slow.destroy());
  const slowConn = await server.ready.next();
  for (const topic of topics.slice(1)) slowConn.subscribe(topic);
  slow.socket.pause(); // stops reading: the kernel buffers fill, then the server's
  const client = new Context({ maxMessageSize: 1 << 20 });
  t.after(() => withTimeout(client.close(), 5000, 'closing the fast client'));
  const fast = await ConnClass.open(client, server.url(topics[0]!));
  await server.ready.next();
  const serverFast = [...server.ctx.conns].find((c) => c !== slowConn)!;
  for (const topic of topics.slice(1)) serverFast.subscribe(topic);
  const fastGot: string[] = [];
  fast.onMessage = (_conn, msg) => void fastGot.push(msg.payload.toString('latin1', 0, 16).trim());
  return { server, slow, slowConn, fast, fastGot };
}

/** Publishes COUNT messages (`topic:n` padded to SIZE), a few per turn; returns the largest unsent backlog seen. */
async function publishPaced(s: Setup, topics: string[]): Promise<number> {
  let most = 0;
  for (let i = 0; i < COUNT; i++) {
    const topic = topics[i % topics.length]!;
    const body = Buffer.alloc(SIZE, 0x20);
    body.write(`${topic}:${i}`, 'latin1');
    s.server.ctx.publish(topic, body, { binary: true });
    most = Math.max(most, s.slowConn.pendingWriteBytes);
    if (i % 2 === 1) await delay(1); // the fast subscriber drains between turns
  }
  return most;
}

/** Reads frames from the raw peer until `stop` says so or it ends; returns them. */
async function readAll(peer: RawClient, stop: (frame: Frame) => boolean, timeoutMs = 10_000): Promise<Frame[]> {
  peer.socket.resume();
  const frames: Frame[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const frame = await peer.reader.next(Math.max(1, deadline - Date.now()));
    frames.push(frame);
    if (stop(frame)) return frames;
  }
}

const label = (frame: Frame): string => frame.payload.toString('latin1', 0, 16).trim();

describe('slow subscribers', () => {
  it("'drop': the slow one misses messages (counted), keeps its order, and its backlog stays near the cap", async (t) => {
    const topics = ['t'];
    const s = await setup(t, 'drop', topics);
    const most = await publishPaced(s, topics);
    const serverFast = [...s.server.ctx.conns].find((c) => c !== s.slowConn)!;
    await until(
      () => s.fastGot.length === COUNT,
      15_000,
      `the fast subscriber gets everything (${s.fastGot.length}, dropped ${serverFast.subscriberStats.dropped})`,
    );
    assert.deepEqual(
      s.fastGot,
      Array.from({ length: COUNT }, (_, i) => `t:${i}`),
    );
    const dropped = s.slowConn.subscriberStats.dropped;
    assert.ok(dropped > 0, 'messages were dropped for the slow subscriber');
    assert.equal(s.server.ctx.pubsub.stats.dropped, dropped);
    assert.ok(most <= CAP + SIZE + 64, `backlog ${most} stayed within the cap plus one message`);
    // Once it has read its backlog, a last message reaches it (nothing pending: nothing dropped).
    const reading = readAll(s.slow, (f) => label(f) === 't:end');
    await until(() => s.slowConn.pendingWriteBytes === 0, 10_000, 'the slow subscriber reads its backlog');
    s.server.ctx.publish('t', 't:end');
    const frames = (await reading).slice(0, -1);
    const numbers = frames.map((f) => Number(label(f).slice(2)));
    assert.equal(numbers.length, COUNT - dropped, 'it got every message that was not dropped');
    assert.ok(
      numbers.every((n, i) => i === 0 || n > numbers[i - 1]!),
      'in publish order',
    );
  });

  it("'close': the slow one is closed with 1008 after what it was sent; the others go on", async (t) => {
    const topics = ['t'];
    // The closing handshake waits for the peer long enough for the test to read what it was sent.
    const s = await setup(t, 'close', topics, 30_000);
    await publishPaced(s, topics);
    const serverFast = [...s.server.ctx.conns].find((c) => c !== s.slowConn)!;
    await until(
      () => s.fastGot.length === COUNT,
      15_000,
      `the fast subscriber gets everything (${s.fastGot.length}, dropped ${serverFast.subscriberStats.dropped})`,
    );
    assert.equal(s.server.ctx.pubsub.stats.closedSlow, 1);
    assert.notEqual(s.slowConn.state, 'open');
    const frames = await readAll(s.slow, (f) => f.opcode === 8);
    const close = frames[frames.length - 1]!;
    assert.equal(close.payload.readUInt16BE(0), 1008);
    assert.ok(
      frames.slice(0, -1).every((f, i) => label(f) === `t:${i}`),
      'what it had been sent came first, in order',
    );
    s.slow.destroy();
    const info = await withTimeout(s.slowConn.closed, 5000, 'the slow connection ends');
    assert.equal(info.error?.name, 'PolicyViolationError');
  });

  it("'latest': the slow one gets the newest message of each topic once it reads again; older ones are replaced (counted)", async (t) => {
    const topics = ['a', 'b'];
    const s = await setup(t, 'latest', topics);
    const most = await publishPaced(s, topics);
    const serverFast = [...s.server.ctx.conns].find((c) => c !== s.slowConn)!;
    await until(
      () => s.fastGot.length === COUNT,
      15_000,
      `the fast subscriber gets everything (${s.fastGot.length}, dropped ${serverFast.subscriberStats.dropped})`,
    );
    assert.ok(s.slowConn.subscriberStats.conflated > 0);
    assert.equal(s.server.ctx.pubsub.stats.conflated, s.slowConn.subscriberStats.conflated);
    assert.ok(most <= CAP + SIZE + 64, `backlog ${most} stayed within the cap plus one message`);
    const seen = new Set<string>();
    const frames = await readAll(s.slow, (f) => {
      seen.add(label(f));
      return seen.has(`a:${COUNT - 2}`) && seen.has(`b:${COUNT - 1}`);
    });
    for (const topic of topics) {
      const numbers = frames
        .map(label)
        .filter((l) => l.startsWith(`${topic}:`))
        .map((l) => Number(l.slice(2)));
      assert.ok(
        numbers.every((n, i) => i === 0 || n > numbers[i - 1]!),
        `topic ${topic} stays in order`,
      );
    }
    assert.equal(s.slowConn.state, 'open');
  });
});

/**
 * The Redis backplane in streams mode (src/redis/streams-mode.ts, outbox.ts, scripts.ts) with Debian's
 * redis-server: offsets and epochs, resuming a client (recovered or not: history trimmed by length, by age, epoch
 * lost), a node that misses nothing while its subscriber link is cut again and again, and a publish storm during
 * which Redis is killed with SIGKILL and restarted: every message arrives once, in order (sequence numbers
 * checked); without persistence the lost history is reported as a new epoch.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Context } from '../../src/api/context.js';
import { topicKeys } from '../../src/redis/wire.js';
import { openV1, startNode, until, type BackplaneNode, type V1Subscriber } from '../helpers/pubsub.js';
import { hasRedis, startRedis, type RedisServer } from '../helpers/redis.js';
import { delay, withTimeout } from '../helpers/ws-async.js';

const skip = hasRedis() ? false : 'redis-server is not installed (apt-get install redis-server)';

/** Waits until `node` receives `topic` from Redis (its channel subscription is in place). */
async function subscribedOnRedis(redis: RedisServer, topic: string, nodes: number): Promise<void> {
  const admin = await redis.client();
  for (let i = 0; i < 200; i++) {
    const reply = (await admin.sendCommand(['PUBSUB', 'NUMSUB', topicKeys('nopoll', topic).channel])) as [
      string,
      number,
    ];
    if (Number(reply[1]) >= nodes) return;
    await delay(20);
  }
  throw new Error(`${topic}: not subscribed by ${nodes} nodes`);
}

async function v1(node: BackplaneNode, topic: string, query?: string): Promise<V1Subscriber> {
  const subscriber = await openV1(node.url(topic, query));
  await node.ready.next();
  return subscriber;
}

describe('redis backplane, streams mode', { skip }, () => {
  it('numbers messages per topic (one epoch, offsets counting up) in the same order on every node', async (t) => {
    const redis = await startRedis(t);
    const a = await startNode(t, redis, { mode: 'streams' });
    const b = await startNode(t, redis, { mode: 'streams' });
    const onA = await v1(a, 'log');
    const onB = await v1(b, 'log');
    t.after(() => [onA, onB].forEach((s) => s.peer.ws.terminate()));
    await subscribedOnRedis(redis, 'log', 2);
    const first = await a.ctx.pubsub.publishConfirmed('log', 'zero');
    assert.equal(first?.offset, 1);
    for (let i = 1; i < 50; i++) (i % 2 === 0 ? a : b).ctx.publish('log', String(i));
    await until(() => onA.frames.length === 50 && onB.frames.length === 50, 5000, 'both nodes deliver everything');
    assert.deepEqual(onA.frames, onB.frames, 'the same order everywhere');
    assert.deepEqual(
      onA.frames.map((f) => f.offset),
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
    assert.ok(onA.frames.every((f) => f.epoch === first!.epoch));
  });

  it('resumes a client: what it missed, in order, then live; not recovered when the history is trimmed or lost', async (t) => {
    const redis = await startRedis(t);
    const a = await startNode(t, redis, { mode: 'streams', history: { maxLength: 20 } });
    const b = await startNode(t, redis, { mode: 'streams', history: { maxLength: 20 } });
    const client = new Context();
    t.after(() => withTimeout(client.close(), 5000, 'closing clients'));
    const watcher = await v1(b, 'chat');
    t.after(() => watcher.peer.ws.terminate());
    await subscribedOnRedis(redis, 'chat', 1);
    for (let i = 0; i < 5; i++) await a.ctx.pubsub.publishConfirmed('chat', `m${i}`);
    await until(() => watcher.frames.length === 5, 5000, 'five messages');
    const at = watcher.frames[2]!; // the client saw up to m2, then went away
    for (let i = 5; i < 8; i++) await a.ctx.pubsub.publishConfirmed('chat', `m${i}`);
    // A nopoll connection on node B resumes (conn.resumeTopic on the server, through the relay-style URL).
    const resumed = await v1(b, 'chat', `since=${at.epoch}:${at.offset}`);
    t.after(() => resumed.peer.ws.terminate());
    a.ctx.publish('chat', 'live');
    await until(() => resumed.frames.length === 7, 5000, 'recovered frame, five missed, one live');
    assert.deepEqual(resumed.frames[0], { topic: 'chat', recovered: true });
    assert.deepEqual(
      resumed.frames.slice(1).map((f) => [f.offset, f.data]),
      [
        [4, 'm3'],
        [5, 'm4'],
        [6, 'm5'],
        [7, 'm6'],
        [8, 'm7'],
        [9, 'live'],
      ],
    );
    // The server API itself: resumeTopic resolves with the outcome.
    const serverConn = [...b.ctx.conns][0]!;
    const recovery = await serverConn.resumeTopic('other-topic', { epoch: at.epoch!, offset: 1 });
    assert.equal(recovery.recovered, false, 'another topic has another epoch');
    // Trimmed: 40 more messages, the stream keeps about 20.
    for (let i = 0; i < 40; i++) a.ctx.publish('chat', `more ${i}`);
    await a.ctx.pubsub.publishConfirmed('chat', 'last');
    const trimmed = await v1(b, 'chat', `since=${at.epoch}:${at.offset}`);
    const lost = await v1(b, 'chat', `since=no-such-epoch:3`);
    t.after(() => [trimmed, lost].forEach((s) => s.peer.ws.terminate()));
    await until(() => trimmed.frames.length >= 1 && lost.frames.length >= 1, 5000, 'answers');
    assert.deepEqual(trimmed.frames[0], { topic: 'chat', recovered: false });
    assert.deepEqual(lost.frames[0], { topic: 'chat', recovered: false });
    await delay(100);
    assert.equal(trimmed.frames.length, 1, 'nothing replayed when not recovered');
  });

  it('does not replay messages older than the age bound', async (t) => {
    const redis = await startRedis(t);
    const a = await startNode(t, redis, { mode: 'streams', history: { maxAgeMs: 300 } });
    const position = await a.ctx.pubsub.publishConfirmed('aging', 'first');
    await a.ctx.pubsub.publishConfirmed('aging', 'second');
    const fresh = await a.backplane.history!('aging', position!, 100);
    assert.equal(fresh.recovered, true);
    assert.deepEqual(
      fresh.messages.map((m) => m.data.toString()),
      ['second'],
    );
    await delay(500);
    const old = await a.backplane.history!('aging', position!, 100);
    assert.equal(old.recovered, false);
  });

  it('misses nothing while its subscriber link is cut again and again during a publish storm', async (t) => {
    const redis = await startRedis(t);
    const a = await startNode(t, redis, { mode: 'streams' });
    const b = await startNode(t, redis, { mode: 'streams' });
    const sub = await v1(b, 'storm');
    t.after(() => sub.peer.ws.terminate());
    await subscribedOnRedis(redis, 'storm', 1);
    const admin = await redis.client();
    const N = 1000;
    for (let i = 0; i < N; i++) {
      a.ctx.publish('storm', String(i));
      if (i % 150 === 75) await admin.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub']);
      if (i % 5 === 0) await delay(1);
    }
    await until(() => sub.frames.length >= N, 15_000, `everything arrives (${sub.frames.length})`);
    assert.deepEqual(
      sub.frames.map((f) => f.data),
      Array.from({ length: N }, (_, i) => String(i)),
      'once each, in order',
    );
    assert.deepEqual(
      sub.frames.map((f) => f.offset),
      Array.from({ length: N }, (_, i) => i + 1),
    );
    assert.equal(b.ctx.pubsub.stats.gaps, 0, 'the holes were filled from the stream');
  });

  it('survives Redis killed with SIGKILL and restarted mid-storm: every message once, in order, on both nodes', async (t) => {
    const redis = await startRedis(t, { persist: true });
    const a = await startNode(t, redis, { mode: 'streams' });
    const b = await startNode(t, redis, { mode: 'streams' });
    const onA = await v1(a, 'orders');
    const onB = await v1(b, 'orders');
    t.after(() => [onA, onB].forEach((s) => s.peer.ws.terminate()));
    await subscribedOnRedis(redis, 'orders', 2);
    const N = 1200;
    const confirmations: Array<Promise<unknown>> = [];
    for (let i = 0; i < N; i++) {
      confirmations.push(a.ctx.pubsub.publishConfirmed('orders', String(i)));
      if (i === 300) await redis.kill();
      if (i === 500) await redis.restart();
      if (i % 3 === 0) await delay(1);
    }
    await withTimeout(Promise.all(confirmations), 20_000, 'every publish confirmed');
    const expected = Array.from({ length: N }, (_, i) => String(i));
    for (const [name, sub] of [
      ['A', onA],
      ['B', onB],
    ] as const) {
      await until(
        () => sub.frames.filter((f) => !f.gap).length >= N,
        15_000,
        `node ${name} delivers everything (${sub.frames.length})`,
      );
      const messages = sub.frames.filter((f) => f.gap !== true);
      assert.deepEqual(
        messages.map((f) => f.data),
        expected,
        `node ${name}: once each, in order`,
      );
      assert.deepEqual(
        messages.map((f) => f.offset),
        Array.from({ length: N }, (_, i) => i + 1),
        `node ${name}: offsets without holes`,
      );
    }
    assert.equal(a.ctx.pubsub.stats.gaps + b.ctx.pubsub.stats.gaps, 0);
  });

  it('without persistence, a restarted Redis is a new epoch: reported as a gap, and old positions do not recover', async (t) => {
    const redis = await startRedis(t);
    const a = await startNode(t, redis, { mode: 'streams' });
    const b = await startNode(t, redis, { mode: 'streams' });
    const sub = await v1(b, 'volatile');
    t.after(() => sub.peer.ws.terminate());
    await subscribedOnRedis(redis, 'volatile', 1);
    const before = await a.ctx.pubsub.publishConfirmed('volatile', 'before');
    await redis.kill();
    await redis.restart();
    await until(() => b.backplane.linkReady, 10_000, 'the link is back');
    let after = null;
    for (let i = 0; i < 100 && after === null; i++) {
      after = await a.ctx.pubsub.publishConfirmed('volatile', 'after').catch(() => null);
      if (after === null) await delay(50);
    }
    assert.ok(after !== null && after.epoch !== before!.epoch, 'a new epoch');
    await until(() => sub.frames.some((f) => f.data === 'after'), 5000, 'delivery goes on');
    assert.ok(
      sub.frames.some((f) => f.gap === true),
      'the lost history was announced',
    );
    assert.ok(b.ctx.pubsub.stats.gaps >= 1);
    const history = await a.backplane.history!('volatile', before!, 100);
    assert.equal(history.recovered, false);
  });

  it('keeps an outbox: publishes made while Redis is down are confirmed once it is back', async (t) => {
    const redis = await startRedis(t, { persist: true });
    const a = await startNode(t, redis, { mode: 'streams' });
    await a.ctx.pubsub.publishConfirmed('queue', 'first');
    await redis.kill();
    const during = [a.ctx.pubsub.publishConfirmed('queue', 'x'), a.ctx.pubsub.publishConfirmed('queue', 'y')];
    await delay(200);
    await redis.restart();
    const positions = await withTimeout(Promise.all(during), 10_000, 'confirmed after the restart');
    assert.deepEqual(
      positions.map((p) => p?.offset),
      [2, 3],
    );
  });

  it('bounds the outbox: while Redis is down, publishes past maxPendingPublishes are refused, the others kept', async (t) => {
    const redis = await startRedis(t, { persist: true });
    const a = await startNode(t, redis, { mode: 'streams', maxPendingPublishes: 5 });
    await a.ctx.pubsub.publishConfirmed('bounded', 'first');
    await redis.kill();
    const kept = Array.from({ length: 5 }, (_, i) => a.ctx.pubsub.publishConfirmed('bounded', `kept ${i}`));
    // Refused at once (a refusal that does not come in time fails the test rather than hanging it).
    await assert.rejects(withTimeout(a.ctx.pubsub.publishConfirmed('bounded', 'one too many'), 2000, 'the refusal'), {
      name: 'BackplaneError',
      message: /maxPendingPublishes/,
    });
    await redis.restart();
    const positions = await withTimeout(Promise.all(kept), 10_000, 'the kept ones are confirmed');
    assert.deepEqual(
      positions.map((p) => p?.offset),
      [2, 3, 4, 5, 6],
    );
  });
});

/**
 * The Redis backplane in pub/sub mode (src/redis/pubsub-mode.ts, base.ts, link.ts) with Debian's redis-server:
 * two nodes (contexts with their own Redis clients) share topics; a node subscribes to a topic's channel only
 * while it has local subscribers; a dropped link is reported and restored; and in a publish storm during which
 * Redis is killed and restarted, every message a subscriber misses is announced by a gap frame before the next
 * message it gets.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PUBSUB_PROTOCOL } from '../../src/api/pubsub-envelope.js';
import { topicKeys } from '../../src/redis/wire.js';
import { startNode, until } from '../helpers/pubsub.js';
import { hasRedis, startRedis, type RedisServer } from '../helpers/redis.js';
import { delay, withTimeout } from '../helpers/ws-async.js';
import { openWs } from '../helpers/ws-peers.js';

const skip = hasRedis() ? false : 'redis-server is not installed (apt-get install redis-server)';

/** Subscribers of a topic's channel, as Redis counts them (one per node). */
async function channelSubscribers(redis: RedisServer, topic: string): Promise<number> {
  const client = await redis.client();
  const reply = (await client.sendCommand(['PUBSUB', 'NUMSUB', topicKeys('nopoll', topic).channel])) as [
    string,
    number,
  ];
  await client.close();
  return Number(reply[1]);
}

describe('redis backplane, pub/sub mode', { skip }, () => {
  it('delivers across nodes with types, excluding the sender, and only to nodes whose connections subscribed', async (t) => {
    const redis = await startRedis(t);
    const a = await startNode(t, redis);
    const b = await startNode(t, redis);
    const c = await startNode(t, redis);
    assert.equal(await channelSubscribers(redis, 'room'), 0);
    const onA = await openWs(a.url('room'));
    const onB = await openWs(b.url('room'));
    t.after(() => [onA, onB].forEach((p) => p.ws.terminate()));
    const sender = await a.ready.next();
    await b.ready.next();
    await until(() => a.backplane.linkReady && b.backplane.linkReady, 5000, 'links');
    let subscribed = 0;
    for (let i = 0; i < 100 && subscribed !== 2; i++) {
      subscribed = await channelSubscribers(redis, 'room');
      if (subscribed !== 2) await delay(20);
    }
    assert.equal(subscribed, 2, 'nodes A and B subscribed; node C, without subscribers, did not');
    sender.publish('room', 'from a connection on A'); // excluded: the sender itself
    c.ctx.publish('room', Buffer.from([1, 2, 3])); // from a node with no subscriber of its own
    const gotB = [await onB.messages.next(), await onB.messages.next()];
    assert.deepEqual(
      gotB.map((m) => [m.isBinary, m.data.toString('hex')]),
      [
        [false, Buffer.from('from a connection on A').toString('hex')],
        [true, '010203'],
      ],
    );
    const gotA = await onA.messages.next();
    assert.deepEqual(
      [gotA.isBinary, gotA.data.toString('hex')],
      [true, '010203'],
      'the sender got only the other message',
    );
    onB.ws.close();
    await until(() => b.ctx.subscriberCount('room') === 0, 3000, 'B loses its subscriber');
    for (let i = 0; i < 100 && subscribed !== 1; i++) {
      subscribed = await channelSubscribers(redis, 'room');
      if (subscribed !== 1) await delay(20);
    }
    assert.equal(subscribed, 1, 'B unsubscribed from the channel with its last subscriber');
  });

  it('reports a dropped subscriber link as a gap and restores the subscription by itself', async (t) => {
    const redis = await startRedis(t);
    const a = await startNode(t, redis);
    const b = await startNode(t, redis);
    const peer = await openWs(b.url('news'), PUBSUB_PROTOCOL);
    t.after(() => peer.ws.terminate());
    await b.ready.next();
    await until(() => b.backplane.linkReady, 5000, 'link');
    await delay(100);
    const admin = await redis.client();
    await admin.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub']);
    await until(() => b.ctx.pubsub.stats.gaps >= 1, 5000, 'the gap is reported');
    const gap = JSON.parse((await peer.messages.next(5000)).data.toString());
    assert.deepEqual(gap, { topic: 'news', gap: true, missed: null });
    // Restored: messages flow again without anyone subscribing anew.
    await until(() => b.backplane.linkReady, 5000, 'the link is back');
    let got: Record<string, unknown> | null = null;
    for (let i = 0; i < 50 && got === null; i++) {
      a.ctx.publish('news', `after ${i}`);
      try {
        got = JSON.parse((await peer.messages.next(100)).data.toString());
      } catch {
        /* not yet subscribed again */
      }
    }
    assert.ok(got !== null && String(got['data']).startsWith('after'));
    assert.equal(got!['offset'], null, 'pub/sub mode keeps no offsets');
  });

  it('a publish storm while Redis is killed and restarted: every hole in what a subscriber got is announced before the next message', async (t) => {
    const redis = await startRedis(t);
    const a = await startNode(t, redis);
    const b = await startNode(t, redis);
    const peer = await openWs(b.url('storm'), PUBSUB_PROTOCOL);
    t.after(() => peer.ws.terminate());
    await b.ready.next();
    for (let i = 0; i < 100 && (await channelSubscribers(redis, 'storm')) !== 1; i++) await delay(20);
    const frames: Array<Record<string, unknown>> = [];
    peer.ws.on('message', (data) => frames.push(JSON.parse(String(data))));
    const N = 1200;
    for (let i = 0; i < N; i++) {
      a.ctx.publish('storm', String(i));
      if (i === 300) await redis.kill();
      if (i === 600) await redis.restart();
      await delay(1);
    }
    // The last messages come through (the links are back by then).
    await until(() => frames.some((f) => f['data'] === String(N - 1)), 15_000, 'the last message arrives');
    let previous = -1;
    let gapSince = false;
    let holes = 0;
    for (const frame of frames) {
      if (frame['gap'] === true) {
        gapSince = true;
        continue;
      }
      const n = Number(frame['data']);
      assert.ok(n > previous, `in order: ${n} after ${previous}`);
      if (n > previous + 1) {
        holes++;
        assert.ok(gapSince, `messages ${previous + 1}..${n - 1} were missed without a gap frame before ${n}`);
      }
      gapSince = false;
      previous = n;
    }
    assert.ok(b.ctx.pubsub.stats.gaps >= 1, 'the dropped link was reported');
    assert.ok(holes >= 1, 'messages published while Redis was down are lost (at most once)');
  });

  it('bounds what waits for Redis: publishes past maxPendingPublishes are refused while it is down', async (t) => {
    const redis = await startRedis(t);
    const a = await startNode(t, redis, { maxPendingPublishes: 3 });
    await redis.kill();
    await delay(100);
    const waiting = Array.from({ length: 3 }, (_, i) =>
      a.ctx.pubsub.publishConfirmed('bounded', `m${i}`).catch((e: Error) => e),
    );
    // Refused at once (a refusal that does not come in time fails the test rather than hanging it).
    await assert.rejects(withTimeout(a.ctx.pubsub.publishConfirmed('bounded', 'one too many'), 2000, 'the refusal'), {
      name: 'BackplaneError',
      message: /maxPendingPublishes/,
    });
    await redis.restart();
    const outcomes = await Promise.all(waiting);
    assert.equal(outcomes.length, 3);
  });
});

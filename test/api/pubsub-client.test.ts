/**
 * The reconnecting subscriber (src/api/pubsub-client.ts on ReconnectingConn): it resubscribes after every
 * disconnection and, in streams mode, resumes from its last position, so a publish storm during which its
 * connection is cut again and again, or its relay process is killed and started again, reaches it whole, in order,
 * once; when the history no longer covers the gap it says so (`onRecovered(false)`).
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { Context } from '../../src/api/context.js';
import { PubSubClient, type TopicMessage } from '../../src/api/pubsub-client.js';
import { expectLine, nopoll } from '../helpers/cli.js';
import { startNode, until } from '../helpers/pubsub.js';
import { hasRedis, startRedis } from '../helpers/redis.js';
import { delay, withTimeout } from '../helpers/ws-async.js';
import { openWs } from '../helpers/ws-peers.js';

const skip = hasRedis() ? false : 'redis-server is not installed (apt-get install redis-server)';

function clientContext(t: TestContext): Context {
  const ctx = new Context();
  t.after(() => withTimeout(ctx.close(), 5000, 'closing the client context'));
  return ctx;
}

function track(client: PubSubClient): { messages: TopicMessage[]; recovered: boolean[] } {
  const messages: TopicMessage[] = [];
  const recovered: boolean[] = [];
  client.onMessage = (m) => messages.push(m);
  client.onRecovered = (r) => recovered.push(r);
  return { messages, recovered };
}

describe('the reconnecting subscriber', { skip }, () => {
  it('resumes after each cut of its connection during a publish storm: every message once, in order', async (t) => {
    const redis = await startRedis(t);
    const node = await startNode(t, redis, { mode: 'streams' });
    const client = new PubSubClient(clientContext(t), node.url('storm'), {
      policy: { initialDelayMs: 10, maxDelayMs: 100 },
    });
    t.after(() => client.close());
    const seen = track(client);
    await node.ready.next();
    await delay(200);
    const N = 800;
    let cuts = 0;
    for (let i = 0; i < N; i++) {
      node.ctx.publish('storm', String(i));
      if (i % 200 === 100) {
        // The server drops the subscriber's connection (no close frame).
        for (const conn of node.ctx.conns) if (conn.isSubscribed('storm')) conn.shutdown();
        cuts++;
      }
      if (i % 4 === 0) await delay(1);
    }
    await until(() => seen.messages.length >= N, 15_000, `everything arrives (${seen.messages.length})`);
    assert.deepEqual(
      seen.messages.map((m) => m.data),
      Array.from({ length: N }, (_, i) => String(i)),
    );
    assert.equal(seen.recovered.length, cuts, 'one resume per cut');
    assert.ok(
      seen.recovered.every((r) => r),
      'each resume recovered everything',
    );
    assert.equal(client.position?.offset, N);
  });

  it('comes back to a relay killed with SIGKILL and started again on the same port, and misses nothing', async (t) => {
    const redis = await startRedis(t);
    const args = ['--redis', redis.url, '--mode', 'streams', '--host', '127.0.0.1'];
    const other = nopoll(t, ['relay', '--port', '0', ...args]);
    const otherPort = Number((await expectLine(other, /:(\d+)\/ /, 15_000))[1]);
    let relay = nopoll(t, ['relay', '--port', '0', ...args]);
    const port = Number((await expectLine(relay, /:(\d+)\/ /, 15_000))[1]);
    const client = new PubSubClient(clientContext(t), `ws://127.0.0.1:${port}/news`, {
      policy: { initialDelayMs: 50, maxDelayMs: 200 },
    });
    t.after(() => client.close());
    const seen = track(client);
    const publisher = await openWs(`ws://127.0.0.1:${otherPort}/news`);
    t.after(() => publisher.ws.terminate());
    await until(() => client.connection.state === 'open', 5000, 'connected');
    await delay(300);
    const N = 500;
    for (let i = 0; i < N; i++) {
      publisher.ws.send(String(i));
      if (i === 150) relay.child.kill('SIGKILL');
      if (i === 300) {
        relay = nopoll(t, ['relay', '--port', String(port), ...args]);
        await expectLine(relay, /^listening on /, 15_000);
      }
      await delay(1);
    }
    await until(() => seen.messages.length >= N, 15_000, `everything arrives (${seen.messages.length})`);
    assert.deepEqual(
      seen.messages.map((m) => m.data),
      Array.from({ length: N }, (_, i) => String(i)),
    );
    assert.deepEqual(seen.recovered, [true]);
  });

  it('says so when the history no longer covers what it missed', async (t) => {
    const redis = await startRedis(t);
    const node = await startNode(t, redis, { mode: 'streams', history: { maxLength: 10 } });
    const client = new PubSubClient(clientContext(t), node.url('short'), {
      policy: { initialDelayMs: 300, jitter: 0 },
    });
    t.after(() => client.close());
    const seen = track(client);
    await node.ready.next();
    await delay(200);
    await node.ctx.pubsub.publishConfirmed('short', 'first');
    await until(() => seen.messages.length === 1, 5000, 'first');
    for (const conn of node.ctx.conns) conn.shutdown();
    for (let i = 0; i < 30; i++) await node.ctx.pubsub.publishConfirmed('short', `missed ${i}`);
    await until(() => seen.recovered.length === 1, 5000, 'the resume answer');
    assert.deepEqual(seen.recovered, [false]);
    node.ctx.publish('short', 'live');
    await until(() => seen.messages.length === 2, 5000, 'live again');
    assert.equal(seen.messages[1]!.data, 'live');
  });
});

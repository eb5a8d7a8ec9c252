/**
 * Presence on Redis (src/redis/presence.ts): members joined on two nodes are listed from either; a member with
 * connections on both nodes counts once and stays while one remains; a node that dies (its Redis connection cut,
 * no leave sent, no refresh) loses its members when they expire.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startNode } from '../helpers/pubsub.js';
import { hasRedis, startRedis } from '../helpers/redis.js';
import { openWs } from '../helpers/ws-peers.js';

const skip = hasRedis() ? false : 'redis-server is not installed (apt-get install redis-server)';

describe('redis presence', { skip }, () => {
  it('lists members across nodes, counts a member once, and expires the members of a dead node', async (t) => {
    const redis = await startRedis(t);
    const a = await startNode(t, redis, { presence: { ttlMs: 600 } });
    const b = await startNode(t, redis, { presence: { ttlMs: 600 } });
    const peers = await Promise.all([
      openWs(a.url('none')),
      openWs(a.url('none')),
      openWs(b.url('none')),
      openWs(b.url('none')),
    ]);
    t.after(() => peers.forEach((p) => p.ws.terminate()));
    const [a1, a2] = [await a.ready.next(), await a.ready.next()];
    const [b1, b2] = [await b.ready.next(), await b.ready.next()];
    a1.subscribe('lobby', { member: 'ann' });
    a2.subscribe('lobby', { member: 'bob' });
    b1.subscribe('lobby', { member: 'ann' });
    b2.subscribe('lobby', { member: 'cid' });
    const sorted = async (node: typeof a): Promise<string[]> =>
      (await node.ctx.pubsub.presence('lobby')).members.sort();
    let seen: string[] = [];
    for (let i = 0; i < 50 && seen.length !== 3; i++) seen = await sorted(a);
    assert.deepEqual(seen, ['ann', 'bob', 'cid']);
    assert.deepEqual(await sorted(b), ['ann', 'bob', 'cid']);
    assert.equal((await b.ctx.pubsub.presence('lobby')).count, 3);
    a1.unsubscribe('lobby');
    assert.deepEqual(await sorted(b), ['ann', 'bob', 'cid'], 'ann is still on node B');
    // Node B dies: its Redis connection is cut, it sends no leave and no refresh.
    b.client.destroy();
    const deadline = Date.now() + 5000;
    while ((await sorted(a)).includes('cid') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(await sorted(a), ['bob'], "node B's members expired");
  });
});

/**
 * In-process topics (src/api/conn-topics.ts, pubsub.ts, published.ts): subscribing, publishing to real peers (our
 * client, ws, raw sockets that read the bytes), one frame shared by every subscriber, writes coalesced per
 * event-loop turn, compression shared only where the agreement allows it, limits, presence and envelopes.
 */
import assert from 'node:assert/strict';
import { constants, inflateRawSync } from 'node:zlib';
import { describe, it } from 'node:test';
import { Conn } from '../../src/api/conn.js';
import { Context } from '../../src/api/context.js';
import { PUBSUB_PROTOCOL } from '../../src/api/pubsub-envelope.js';
import { Transport } from '../../src/transport/transport.js';
import { rawUpgrade } from '../helpers/net.js';
import { startTopicServer, until } from '../helpers/pubsub.js';
import { delay, withTimeout } from '../helpers/ws-async.js';
import { openWs } from '../helpers/ws-peers.js';

/** Records every frame handed to Transport.sendFrame while `run` executes (restored after). */
async function recordSharedFrames(run: () => Promise<void> | void): Promise<Buffer[]> {
  const frames: Buffer[] = [];
  const original = Transport.prototype.sendFrame;
  Transport.prototype.sendFrame = function (this: Transport, frame: Buffer): number {
    frames.push(frame);
    return original.call(this, frame);
  };
  try {
    await run();
  } finally {
    Transport.prototype.sendFrame = original;
  }
  return frames;
}

describe('in-process topics', () => {
  it('subscribes, counts, lists and unsubscribes; a connection that ends leaves its topics', async (t) => {
    const server = await startTopicServer(t);
    const client = new Context();
    t.after(() => withTimeout(client.close(), 5000, 'closing clients'));
    const a = await Conn.open(client, server.url('news'));
    const b = await Conn.open(client, server.url('news'));
    const sa = await server.ready.next();
    const sb = await server.ready.next();
    assert.equal(server.ctx.subscriberCount('news'), 2);
    assert.equal(server.listener.subscriberCount('news'), 2);
    assert.equal(sa.subscribe('news'), false, 'subscribing twice is a no-op');
    assert.equal(sa.subscribe('sport'), true);
    assert.deepEqual([...sa.topics].sort(), ['news', 'sport']);
    assert.equal(sa.isSubscribed('sport'), true);
    assert.deepEqual([...server.ctx.pubsub.topics()].sort(), ['news', 'sport']);
    assert.equal(sb.unsubscribe('sport'), false);
    assert.equal(sa.unsubscribe('sport'), true);
    assert.equal(server.ctx.subscriberCount('sport'), 0);
    assert.deepEqual([...server.ctx.pubsub.topics()], ['news'], 'a topic without subscribers is gone');
    await a.close();
    await until(() => server.ctx.subscriberCount('news') === 1, 3000, 'a closed connection leaves');
    b.shutdown();
    await until(() => server.ctx.subscriberCount('news') === 0, 3000, 'a dropped connection leaves');
    assert.deepEqual([...server.ctx.pubsub.topics()], []);
    assert.deepEqual([...sb.topics], []);
  });

  it('delivers text as text and binary as binary to nopoll and ws subscribers, in publish order, excluding who is excluded', async (t) => {
    const server = await startTopicServer(t);
    const client = new Context();
    t.after(() => withTimeout(client.close(), 5000, 'closing clients'));
    const ours = await Conn.open(client, server.url('room'));
    const theirs = await openWs(server.url('room'));
    t.after(() => theirs.ws.terminate());
    const serverSide = await server.ready.next();
    await server.ready.next();
    assert.equal(server.ctx.publish('room', 'héllo'), 2);
    assert.equal(server.ctx.publish('room', Buffer.from([0, 1, 2, 255])), 2);
    assert.equal(server.ctx.publish('room', 'as bytes', { binary: true }), 2);
    assert.equal(server.ctx.publish('room', Buffer.from('text from bytes'), { binary: false }), 2);
    // The first connection excludes itself (conn.publish), or is excluded by the caller (ctx.publish).
    assert.equal(serverSide.publish('room', 'not to myself'), 1);
    assert.equal(server.ctx.publish('room', 'also not', { exclude: serverSide }), 1);
    assert.equal(server.ctx.publish('nobody', 'x'), 0);
    const got: Array<[boolean, string]> = [];
    for (let i = 0; i < 4; i++) {
      const msg = await ours.nextMsg({ timeoutMs: 3000 });
      got.push([msg.isBinary, msg.isBinary ? msg.payload.toString('hex') : msg.text]);
    }
    assert.deepEqual(got, [
      [false, 'héllo'],
      [true, '000102ff'],
      [true, Buffer.from('as bytes').toString('hex')],
      [false, 'text from bytes'],
    ]);
    const seen: Array<[boolean, string]> = [];
    for (let i = 0; i < 6; i++) {
      const m = await theirs.messages.next(3000);
      seen.push([m.isBinary, m.isBinary ? m.data.toString('hex') : m.data.toString()]);
    }
    assert.deepEqual(seen, [...got, [false, 'not to myself'], [false, 'also not']]);
    await delay(50);
    assert.equal(ours.getMsg(), null, 'the excluded connection got nothing more');
    const stats = server.ctx.pubsub.stats;
    assert.equal(stats.published, 7);
    assert.equal(stats.delivered, 10);
  });

  it('frames a message once: every subscriber is sent the same buffer, and the bytes on every socket are that frame', async (t) => {
    const server = await startTopicServer(t);
    const peers = await Promise.all([1, 2, 3].map(() => rawUpgrade(server.port, '127.0.0.1', '/shared')));
    t.after(() => peers.forEach((p) => p.destroy()));
    for (let i = 0; i < 3; i++) await server.ready.next();
    const payload = Buffer.alloc(300, 'x');
    const frames = await recordSharedFrames(() => {
      server.ctx.publish('shared', payload, { binary: false });
    });
    assert.equal(frames.length, 3);
    assert.ok(frames[0] === frames[1] && frames[1] === frames[2], 'one Buffer for every subscriber');
    for (const peer of peers) {
      const frame = await peer.reader.next();
      assert.deepEqual(
        { fin: frame.fin, rsv: frame.rsv, opcode: frame.opcode, masked: frame.masked },
        { fin: true, rsv: 0, opcode: 1, masked: false },
      );
      assert.deepEqual(frame.payload, payload);
    }
  });

  // It counts the calls into Node's net.Socket internals (_write, _writev), which Bun's sockets do not go through.
  const nodeSocket = process.versions['bun'] === undefined ? false : "Bun's sockets have no _write/_writev to count";
  it(
    'flushes a subscriber once per event-loop turn: 200 publishes in one turn leave in one write',
    { skip: nodeSocket },
    async (t) => {
      const server = await startTopicServer(t);
      const peer = await rawUpgrade(server.port, '127.0.0.1', '/burst');
      t.after(() => peer.destroy());
      const conn = await server.ready.next();
      const socket = conn.socket! as unknown as {
        _write: (...a: unknown[]) => void;
        _writev: (...a: unknown[]) => void;
      };
      let writes = 0;
      let writevs = 0;
      const write = socket._write.bind(socket);
      const writev = socket._writev.bind(socket);
      socket._write = (...args) => {
        writes++;
        write(...args);
      };
      socket._writev = (...args) => {
        writevs++;
        writev(...args);
      };
      for (let i = 0; i < 200; i++) server.ctx.publish('burst', `message ${i}`);
      assert.equal(writes + writevs, 0, 'nothing is written during the turn');
      for (let i = 0; i < 200; i++) assert.equal((await peer.reader.next()).payload.toString(), `message ${i}`);
      assert.equal(writes + writevs, 1, `one write for the turn (write ${writes}, writev ${writevs})`);
      server.ctx.publish('burst', 'next turn');
      assert.equal((await peer.reader.next()).payload.toString(), 'next turn');
      assert.equal(writes + writevs, 2);
    },
  );

  it('compresses once for every subscriber that agreed on server_no_context_takeover, per connection for the others', async (t) => {
    // contextTakeover: the listener keeps its context unless a client asks for server_no_context_takeover.
    const server = await startTopicServer(t, { opts: { perMessageDeflate: { contextTakeover: true } } });
    const sharing = await Promise.all(
      [1, 2].map(() => openWs(server.url('z'), undefined, { perMessageDeflate: { serverNoContextTakeover: true } })),
    );
    const keeping = await openWs(server.url('z'), undefined, { perMessageDeflate: true });
    const plain = await rawUpgrade(server.port, '127.0.0.1', '/z');
    t.after(() => {
      for (const p of [...sharing, keeping]) p.ws.terminate();
      plain.destroy();
    });
    for (let i = 0; i < 4; i++) await server.ready.next();
    const text = JSON.stringify({ items: Array.from({ length: 200 }, (_, i) => ({ id: i, name: `item ${i}` })) });
    const frames = await recordSharedFrames(() => {
      server.ctx.publish('z', text);
    });
    const compressed = frames.filter((f) => (f[0]! & 0x40) !== 0);
    const uncompressed = frames.filter((f) => (f[0]! & 0x40) === 0);
    assert.equal(compressed.length, 2, 'the two no-context subscribers got a compressed shared frame');
    assert.ok(compressed[0] === compressed[1], 'compressed once');
    assert.equal(uncompressed.length, 1, 'the subscriber without compression got the plain frame');
    assert.ok(compressed[0]!.length < Buffer.byteLength(text) / 2);
    // The shared payload is a whole message compressed alone (RFC 7692 §7.2.1): it inflates by itself.
    const header = compressed[0]![1]! === 126 ? 4 : 10;
    const inflated = inflateRawSync(Buffer.concat([compressed[0]!.subarray(header), Buffer.from([0, 0, 0xff, 0xff])]), {
      finishFlush: constants.Z_SYNC_FLUSH,
    });
    assert.equal(inflated.toString(), text);
    for (const peer of [...sharing, keeping]) {
      const m = await peer.messages.next(3000);
      assert.equal(m.data.toString(), text);
    }
    const raw = await plain.reader.next();
    assert.equal(raw.rsv, 0);
    assert.equal(raw.payload.toString(), text);
    // compress: false sends the plain frame to everyone.
    const plainFrames = await recordSharedFrames(() => {
      server.ctx.publish('z', text, { compress: false });
    });
    assert.equal(plainFrames.length, 4);
    assert.ok(plainFrames.every((f) => f === plainFrames[0] && (f[0]! & 0x40) === 0));
    for (const peer of [...sharing, keeping]) assert.equal((await peer.messages.next(3000)).data.toString(), text);
  });

  it('lets client connections subscribe too: their frames are masked one by one', async (t) => {
    const echo = await startTopicServer(t, { onMessage: (conn, msg) => void conn.sendText(`got ${msg.text}`) });
    const client = new Context();
    t.after(() => withTimeout(client.close(), 5000, 'closing clients'));
    const conns = await Promise.all([1, 2].map(() => Conn.open(client, echo.url('none'))));
    for (const conn of conns) conn.subscribe('outbound');
    await delay(20);
    assert.equal(client.publish('outbound', 'from the client side'), 2);
    for (const conn of conns) assert.equal((await conn.nextMsg({ timeoutMs: 3000 })).text, 'got from the client side');
  });

  it('refuses bad topics, too many topics and text that is not UTF-8; skips a connection sending a fragmented message', async (t) => {
    const server = await startTopicServer(t, {
      context: { pubsub: { maxTopicsPerConnection: 3, maxTopicLength: 10 } },
    });
    const peer = await rawUpgrade(server.port, '127.0.0.1', '/a');
    t.after(() => peer.destroy());
    const conn = await server.ready.next();
    assert.throws(() => conn.subscribe(''), TypeError);
    assert.throws(() => conn.subscribe('x'.repeat(11)), RangeError);
    conn.subscribe('b');
    conn.subscribe('c');
    assert.throws(() => conn.subscribe('d'), RangeError);
    assert.throws(() => server.ctx.publish('a', Buffer.from([0xc3, 0x28]), { binary: false }), TypeError);
    assert.throws(() => new Context({ pubsub: { slowSubscriber: 'wait' as never } }), RangeError);
    conn.sendFragment('part one, ');
    assert.equal(server.ctx.publish('a', 'would interleave'), 0);
    assert.equal(conn.subscriberStats.dropped, 1);
    conn.sendFragment('end', { fin: true });
    assert.equal(server.ctx.publish('a', 'after'), 1);
    const first = await peer.reader.next();
    const second = await peer.reader.next();
    const third = await peer.reader.next();
    assert.deepEqual([first.opcode, first.fin, second.opcode, second.fin], [1, false, 0, true]);
    assert.equal(third.payload.toString(), 'after');
  });

  it('keeps presence per topic: members count once, leave with their last subscription', async (t) => {
    const server = await startTopicServer(t);
    const client = new Context();
    t.after(() => withTimeout(client.close(), 5000, 'closing clients'));
    const conns = await Promise.all([1, 2, 3].map(() => Conn.open(client, server.url('none'))));
    const serverSide = [await server.ready.next(), await server.ready.next(), await server.ready.next()];
    serverSide[0]!.subscribe('lobby', { member: 'ann' });
    serverSide[1]!.subscribe('lobby', { member: 'ann' });
    serverSide[2]!.subscribe('lobby', { member: 'bob' });
    let presence = await server.ctx.pubsub.presence('lobby');
    assert.deepEqual([presence.count, presence.members.sort()], [2, ['ann', 'bob']]);
    await conns[0]!.close();
    await until(() => server.ctx.subscriberCount('lobby') === 2, 3000, 'close');
    presence = await server.ctx.pubsub.presence('lobby');
    assert.equal(presence.count, 2, 'ann still has a connection');
    serverSide[1]!.unsubscribe('lobby');
    presence = await server.ctx.pubsub.presence('lobby');
    assert.deepEqual(presence.members, ['bob']);
  });

  it('sends nopoll.pubsub.v1 envelopes with offsets; a resume at the current position recovers, an older one does not', async (t) => {
    const server = await startTopicServer(t);
    const v1 = await openWs(server.url('feed'), PUBSUB_PROTOCOL);
    t.after(() => v1.ws.terminate());
    await server.ready.next();
    assert.equal(v1.ws.protocol, PUBSUB_PROTOCOL);
    server.ctx.publish('feed', 'one');
    server.ctx.publish('feed', Buffer.from([9, 8, 7]));
    const first = JSON.parse((await v1.messages.next()).data.toString());
    const second = JSON.parse((await v1.messages.next()).data.toString());
    assert.equal(first.data, 'one');
    assert.equal(first.offset, 1);
    assert.equal(second.offset, 2);
    assert.equal(second.epoch, first.epoch);
    assert.deepEqual([second.binary, Buffer.from(second.data, 'base64')], [true, Buffer.from([9, 8, 7])]);
    const current = await openWs(server.url('feed', `since=${first.epoch}:2`), PUBSUB_PROTOCOL);
    const behind = await openWs(server.url('feed', `since=${first.epoch}:1`), PUBSUB_PROTOCOL);
    t.after(() => [current, behind].forEach((p) => p.ws.terminate()));
    await server.ready.next();
    await server.ready.next();
    assert.deepEqual(JSON.parse((await current.messages.next()).data.toString()), { topic: 'feed', recovered: true });
    assert.deepEqual(JSON.parse((await behind.messages.next()).data.toString()), { topic: 'feed', recovered: false });
    server.ctx.publish('feed', 'three');
    for (const peer of [v1, current, behind])
      assert.equal(JSON.parse((await peer.messages.next()).data.toString()).offset, 3);
  });
});

/**
 * `nopoll relay` as users and tools run it (src/cli/relay.ts): real processes, real redis-server, ws clients.
 * The contract (ready line, SIGTERM, usage errors, GET /), delivery with types to the other subscribers of a topic,
 * the nopoll.pubsub.v1 envelopes and `?since=`, and the chaos tests of issue 14 on two relays sharing a Redis:
 * Redis killed with SIGKILL and restarted during a publish storm (streams: nothing lost; pubsub: every hole
 * announced), a relay killed (its subscriber resumes on the other relay without loss; its members expire), and a
 * subscriber that stops reading.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { exitCode, expectLine, nopoll, type Cli } from '../helpers/cli.js';
import { rawUpgrade } from '../helpers/net.js';
import { openV1, until, type V1Subscriber } from '../helpers/pubsub.js';
import { hasRedis, startRedis } from '../helpers/redis.js';
import { delay } from '../helpers/ws-async.js';
import { openWs } from '../helpers/ws-peers.js';

const skipRedis = hasRedis() ? false : 'redis-server is not installed (apt-get install redis-server)';

interface Relay {
  cli: Cli;
  port: number;
  url(topic: string, query?: string): string;
}

async function startRelay(t: TestContext, args: string[] = []): Promise<Relay> {
  const cli = nopoll(t, ['relay', '--port', '0', '--host', '127.0.0.1', ...args]);
  const match = await expectLine(cli, /^listening on ws:\/\/127\.0\.0\.1:(\d+)\//, 15_000);
  const port = Number(match[1]);
  return {
    cli,
    port,
    url: (topic, query) => `ws://127.0.0.1:${port}/${encodeURIComponent(topic)}${query ? `?${query}` : ''}`,
  };
}

/** Lets the relays subscribe their new topics on Redis before the test publishes. */
async function settle(): Promise<void> {
  await delay(300);
}

describe('nopoll relay', () => {
  it('prints its ready line, serves the chat page, refuses bad command lines, and exits 0 on SIGTERM', async (t) => {
    const relay = await startRelay(t);
    const page = await fetch(`http://127.0.0.1:${relay.port}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    const html = await page.text();
    assert.match(html, /nopoll\.pubsub\.v1/);
    assert.match(html, /since=/);
    assert.equal((await fetch(`http://127.0.0.1:${relay.port}/nothing`)).status, 404);
    relay.cli.child.kill('SIGTERM');
    assert.equal(await exitCode(relay.cli), 0);
    for (const args of [
      ['relay'],
      ['relay', '--port', '0', '--mode', 'streams'],
      ['relay', '--port', '0', '--mode', 'fast'],
    ]) {
      const bad = nopoll(t, args);
      assert.equal(await exitCode(bad), 2, args.join(' '));
      assert.match(bad.stderr(), /^nopoll relay: [^\n]+\n$/);
    }
  });

  it('delivers what a client sends, with its type, to every other subscriber of the topic; envelopes with nopoll.pubsub.v1', async (t) => {
    const relay = await startRelay(t);
    const sender = await openWs(relay.url('room/1'));
    const other = await openWs(relay.url('room/1'));
    const v1 = await openV1(relay.url('room/1'));
    const elsewhere = await openWs(relay.url('room/2'));
    t.after(() => [sender, other, v1.peer, elsewhere].forEach((p) => p.ws.terminate()));
    await settle();
    sender.ws.send('hello');
    sender.ws.send(Buffer.from([0, 1, 2]));
    const got = [await other.messages.next(), await other.messages.next()];
    assert.deepEqual(
      got.map((m) => [m.isBinary, m.data.toString('hex')]),
      [
        [false, Buffer.from('hello').toString('hex')],
        [true, '000102'],
      ],
    );
    await until(() => v1.frames.length === 2, 3000, 'envelopes');
    assert.deepEqual(v1.frames[0], { topic: 'room/1', offset: 1, epoch: v1.frames[0]!.epoch, data: 'hello' });
    assert.deepEqual([v1.frames[1]!.binary, v1.frames[1]!.data], [true, Buffer.from([0, 1, 2]).toString('base64')]);
    await delay(100);
    assert.equal(sender.messages.size, 0, 'not back to the sender');
    assert.equal(elsewhere.messages.size, 0, 'not to another topic');
    // In one process the relay keeps no history: a resume is recovered only when nothing was missed.
    const at = v1.frames[1]!;
    const same = await openV1(relay.url('room/1', `since=${at.epoch}:${at.offset}`));
    const behind = await openV1(relay.url('room/1', `since=${at.epoch}:1`));
    const garbage = await openV1(relay.url('room/1', 'since=nonsense'));
    t.after(() => [same, behind, garbage].forEach((s) => s.peer.ws.terminate()));
    await until(
      () => (same.frames.length && behind.frames.length && garbage.frames.length ? true : false),
      3000,
      'answers',
    );
    assert.deepEqual(
      [same.frames[0], behind.frames[0], garbage.frames[0]],
      [
        { topic: 'room/1', recovered: true },
        { topic: 'room/1', recovered: false },
        { topic: 'room/1', recovered: false },
      ],
    );
  });

  it(
    'streams mode, two relays, Redis killed with SIGKILL and restarted during a publish storm: nothing lost, nothing twice',
    { skip: skipRedis },
    async (t) => {
      const redis = await startRedis(t, { persist: true });
      const a = await startRelay(t, ['--redis', redis.url, '--mode', 'streams']);
      const b = await startRelay(t, ['--redis', redis.url, '--mode', 'streams']);
      const sub = await openV1(b.url('orders'));
      const publisher = await openWs(a.url('orders'));
      t.after(() => [sub.peer, publisher].forEach((p) => p.ws.terminate()));
      await settle();
      const N = 1000;
      for (let i = 0; i < N; i++) {
        publisher.ws.send(String(i));
        if (i === 250) await redis.kill();
        if (i === 450) await redis.restart();
        if (i % 2 === 0) await delay(1);
      }
      await until(
        () => sub.frames.filter((f) => !f.gap).length >= N,
        30_000,
        `everything arrives (${sub.frames.length})`,
      );
      const messages = sub.frames.filter((f) => f.gap !== true);
      assert.deepEqual(
        messages.map((f) => f.data),
        Array.from({ length: N }, (_, i) => String(i)),
      );
      assert.deepEqual(
        messages.map((f) => f.offset),
        Array.from({ length: N }, (_, i) => i + 1),
      );
      assert.ok(!sub.frames.some((f) => f.gap), 'no gap: the stream filled every hole');
    },
  );

  it(
    'pubsub mode, two relays, Redis killed and restarted during a publish storm: every hole is announced before the next message',
    { skip: skipRedis },
    async (t) => {
      const redis = await startRedis(t);
      const a = await startRelay(t, ['--redis', redis.url, '--mode', 'pubsub']);
      const b = await startRelay(t, ['--redis', redis.url]);
      const sub = await openV1(b.url('ticks'));
      const publisher = await openWs(a.url('ticks'));
      t.after(() => [sub.peer, publisher].forEach((p) => p.ws.terminate()));
      await settle();
      const N = 1000;
      for (let i = 0; i < N; i++) {
        publisher.ws.send(String(i));
        if (i === 250) await redis.kill();
        if (i === 450) await redis.restart();
        if (i % 2 === 0) await delay(1);
      }
      await until(() => sub.frames.some((f) => f.data === String(N - 1)), 30_000, 'the last message arrives');
      let previous = -1;
      let announced = false;
      let holes = 0;
      for (const frame of sub.frames) {
        if (frame.gap === true) {
          announced = true;
          continue;
        }
        const n = Number(frame.data);
        assert.ok(n > previous, 'in order');
        if (n > previous + 1) {
          holes++;
          assert.ok(announced, `${previous + 1}..${n - 1} missed without a gap frame`);
        }
        announced = false;
        previous = n;
        assert.equal(frame.offset, null);
      }
      assert.ok(holes >= 1, 'at most once: what was published while Redis was down is lost');
    },
  );

  it(
    'a relay killed with SIGKILL: its subscriber resumes on the other relay without loss, and its members expire',
    { skip: skipRedis },
    async (t) => {
      const redis = await startRedis(t);
      const args = ['--redis', redis.url, '--mode', 'streams', '--presence-ttl-ms', '600'];
      const a = await startRelay(t, args);
      const b = await startRelay(t, args);
      const first = await openV1(b.url('feed', 'member=sam'));
      const bystander = await openWs(b.url('feed', 'member=bea'));
      const publisher = await openWs(a.url('feed', 'member=pub'));
      t.after(() => [first.peer, bystander, publisher].forEach((p) => p.ws.terminate()));
      await settle();
      const presence = async (): Promise<string[]> =>
        (
          (await (await fetch(`http://127.0.0.1:${a.port}/presence/feed`)).json()) as { members: string[] }
        ).members.sort();
      assert.deepEqual(await presence(), ['bea', 'pub', 'sam']);
      const N = 600;
      let second: V1Subscriber | null = null;
      for (let i = 0; i < N; i++) {
        publisher.ws.send(String(i));
        if (i === 200) {
          b.cli.child.kill('SIGKILL');
          await first.peer.closed;
          const last = first.frames[first.frames.length - 1]!;
          second = await openV1(a.url('feed', `since=${last.epoch}:${last.offset}&member=sam`));
          t.after(() => second!.peer.ws.terminate());
        }
        await delay(1);
      }
      await until(() => second!.frames.some((f) => f.data === String(N - 1)), 15_000, 'the last message arrives');
      assert.deepEqual(second!.frames[0], { topic: 'feed', recovered: true });
      const all = [...first.frames, ...second!.frames.slice(1)].map((f) => f.data);
      assert.deepEqual(
        all,
        Array.from({ length: N }, (_, i) => String(i)),
        'every message once, in order, across the two relays',
      );
      const deadline = Date.now() + 5000;
      while ((await presence()).includes('bea') && Date.now() < deadline) await delay(100);
      assert.deepEqual(await presence(), ['pub', 'sam'], "the dead relay's member expired");
    },
  );

  it('a subscriber that stops reading does not hold the others back (policy close: it is closed with 1008)', async (t) => {
    const relay = await startRelay(t, ['--max-queued-bytes', String(128 * 1024), '--slow-subscriber', 'close']);
    const slow = await rawUpgrade(relay.port, '127.0.0.1', '/big');
    slow.socket.pause();
    const fast = await openWs(relay.url('big'));
    const publisher = await openWs(relay.url('big'));
    t.after(() => [fast, publisher].forEach((p) => p.ws.terminate()));
    t.after(() => slow.destroy());
    await settle();
    const N = 300;
    const body = Buffer.alloc(64 * 1024, 0x61);
    let received = 0;
    fast.ws.on('message', () => received++);
    for (let i = 0; i < N; i++) {
      await new Promise<void>((resolve, reject) =>
        publisher.ws.send(body, (error) => (error ? reject(error) : resolve())),
      );
      if (i % 2 === 1) await delay(1);
    }
    await until(() => received === N, 20_000, `the fast subscriber gets all ${N} (${received})`);
    slow.socket.resume();
    let close = null;
    for (;;) {
      const frame = await slow.reader.next(10_000);
      if (frame.opcode === 8) {
        close = frame;
        break;
      }
    }
    assert.equal(close.payload.readUInt16BE(0), 1008);
  });
});

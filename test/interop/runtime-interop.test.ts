/**
 * nopoll on this runtime against the real `ws` package on Node, in another process (test/helpers/node-ws-peer.ts):
 * our Listener with a `ws` client, our client with a `ws` server. Text, binary, empty, fragmented, large (4 MiB) and
 * compressed (permessage-deflate) messages echo intact, pings are answered, and the closing handshake ends cleanly
 * whichever side starts it. `npm test` runs it on Node; CI runs it on Bun as well (`bun test`), where `ws` inside
 * the test process would be Bun's own implementation, hence the separate Node process. The peer runs on
 * `$NOPOLL_PEER_NODE`, else this process's binary when it is Node, else `node` from PATH.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Conn } from '../../src/api/conn.js';
import { Context } from '../../src/api/context.js';
import { Listener } from '../../src/api/listener.js';
import type { Msg } from '../../src/api/msg.js';
import type { CloseInfo } from '../../src/api/conn.js';
import {
  COMPRESSIBLE_BYTES,
  LARGE_BINARY_BYTES,
  closeRequest,
  interopMessages,
  parseCloseRequest,
  whole,
  type PeerEvent,
} from '../helpers/interop-messages.js';
import { AsyncQueue, withTimeout } from '../helpers/ws-async.js';

const PEER = join(dirname(fileURLToPath(import.meta.url)), '..', 'helpers', 'node-ws-peer.js');
const isBun = typeof (process.versions as Record<string, string | undefined>)['bun'] === 'string';
const NODE = process.env['NOPOLL_PEER_NODE'] ?? (isBun ? 'node' : process.execPath);
const WAIT_MS = 20_000;

/** The `ws` peer process: its JSON events, its first "listening on" URL, its exit. */
interface Peer {
  events: AsyncQueue<PeerEvent>;
  /** The URL of its first "listening on" line (server mode). */
  url(): Promise<string>;
  exited: Promise<number | string>;
  stderr: () => string;
}

function startPeer(t: TestContext, args: string[]): Peer {
  const child = spawn(NODE, [PEER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const events = new AsyncQueue<PeerEvent>();
  let err = '';
  let partial = '';
  let foundUrl!: (url: string) => void;
  const url = new Promise<string>((resolve) => (foundUrl = resolve));
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    partial += chunk;
    let at: number;
    while ((at = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, at);
      partial = partial.slice(at + 1);
      const listening = /^listening on (ws:\/\/\S+)$/.exec(line);
      if (listening) foundUrl(listening[1]!);
      else if (line.startsWith('{')) events.push(JSON.parse(line) as PeerEvent);
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? -1));
    child.once('error', (error) => resolve(`spawn failed: ${error.message}`));
  });
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await withTimeout(exited, 5000, 'the ws peer exiting').catch(() => undefined);
  });
  return {
    events,
    url: () => withTimeout(url, WAIT_MS, `the ws peer listening (${NODE}; stderr: ${err})`),
    exited,
    stderr: () => err,
  };
}

async function nextEvent<K extends PeerEvent['event']>(peer: Peer, kind: K): Promise<PeerEvent & { event: K }> {
  for (;;) {
    const event = await peer.events.next(WAIT_MS, `the ws peer's ${kind} event (stderr: ${peer.stderr()})`);
    if (event.event === kind) return event as PeerEvent & { event: K };
  }
}

/** Our echo Listener: messages echoed with their type; a close request text closes with its code and reason. */
async function ourListener(
  t: TestContext,
): Promise<{ port: number; conns: AsyncQueue<Conn>; closes: AsyncQueue<CloseInfo> }> {
  const ctx = new Context();
  const conns = new AsyncQueue<Conn>();
  const closes = new AsyncQueue<CloseInfo>();
  ctx.onReady = (conn) => {
    conns.push(conn);
    void conn.closed.then((info) => closes.push(info));
  };
  ctx.onMessage = (conn, msg) => {
    const request = msg.isText ? parseCloseRequest(msg.text) : null;
    if (request !== null) void conn.close(request.code, request.reason);
    else if (msg.isText) conn.sendText(msg.payload);
    else conn.sendBinary(msg.payload);
  };
  const listener = await Listener.listen(ctx, {
    host: '127.0.0.1',
    port: 0,
    opts: { perMessageDeflate: true, maxMessageSize: 64 * 1024 * 1024 },
  });
  t.after(() => withTimeout(ctx.close(), 10_000, 'closing the listener context'));
  return { port: listener.port, conns, closes };
}

function assertEcho(message: ReturnType<typeof interopMessages>[number], msg: Msg): void {
  assert.equal(msg.isBinary, message.isBinary, `${message.name}: type`);
  assert.ok(msg.payload.equals(whole(message)), `${message.name}: ${msg.payload.length} bytes came back`);
}

// Compression must have happened on the wire: 1 MiB of JSON-like text shrinks to a few KiB.
function assertCompressedOnWire(bytes: number, what: string): void {
  assert.ok(
    bytes < LARGE_BINARY_BYTES + COMPRESSIBLE_BYTES / 2,
    `${what}: ${bytes} bytes, as if nothing was compressed`,
  );
}

describe(`our Listener on ${isBun ? 'Bun' : 'Node'}, a ws client on Node`, () => {
  for (const closer of ['client', 'server'] as const) {
    it(`echoes text, binary, empty, fragmented, 4 MiB and compressed messages, answers a ping; ${closer === 'client' ? 'ws closes with 4000' : 'our Listener closes with 4001'}: clean on both sides`, async (t) => {
      const srv = await ourListener(t);
      const peer = startPeer(t, ['client', `ws://127.0.0.1:${srv.port}/`, closer]);
      const conn = await srv.conns.next(WAIT_MS, 'the ws client connecting');
      assert.equal(conn.perMessageDeflate !== null, true, 'permessage-deflate agreed with ws');
      const close = await nextEvent(peer, 'close');
      const result = await nextEvent(peer, 'result');
      assert.deepEqual(result.failures, [], 'what the ws client found wrong');
      assert.match(result.extensions, /^permessage-deflate/);
      const info = await srv.closes.next(WAIT_MS, 'our connection ending');
      // Each side reports the close frame it received: nopoll echoes the code alone, ws the code and the reason.
      const [ours, theirs] =
        closer === 'client'
          ? [
              [4000, 'done from ws'],
              [4000, ''],
            ]
          : [
              [4001, 'your turn, nopoll'],
              [4001, 'your turn, nopoll'],
            ];
      assert.deepEqual([close.code, close.reason, close.wasClean], [...theirs, true], 'the ws side of the close');
      assert.deepEqual(
        [info.code, info.reason, info.wasClean, info.error],
        [...ours, true, undefined],
        'our side of the close',
      );
      assertCompressedOnWire(conn.socket?.bytesRead ?? 0, 'bytes our Listener read');
      assert.equal(await withTimeout(peer.exited, WAIT_MS, 'the ws client exiting'), 0, peer.stderr());
    });
  }
});

describe(`our client on ${isBun ? 'Bun' : 'Node'}, a ws server on Node`, () => {
  for (const closer of ['client', 'server'] as const) {
    it(`echoes text, binary, empty, fragmented, 4 MiB and compressed messages, gets a pong; ${closer === 'client' ? 'our client closes with 4000' : 'ws closes with 4002'}: clean on both sides`, async (t) => {
      const peer = startPeer(t, ['server']);
      const ctx = new Context();
      t.after(() => withTimeout(ctx.close(), 10_000, 'closing the client context'));
      const conn = await Conn.open(ctx, await peer.url(), { timeoutMs: WAIT_MS, maxMessageSize: 64 * 1024 * 1024 });
      assert.match((await nextEvent(peer, 'open')).extensions, /^permessage-deflate/, 'ws agreed to compress');
      assert.notEqual(conn.perMessageDeflate, null);
      for (const message of interopMessages()) {
        if (message.parts.length === 1) {
          if (message.isBinary) conn.sendBinary(message.parts[0]!);
          else conn.sendText(message.parts[0]!);
        } else {
          message.parts.forEach((part, i) =>
            conn.sendFragment(part, { binary: message.isBinary, fin: i === message.parts.length - 1 }),
          );
        }
        assertEcho(message, await conn.nextMsg({ timeoutMs: WAIT_MS }));
      }
      const pong = new Promise<Buffer>((resolve) => (conn.onPong = (_conn, payload) => resolve(payload)));
      assert.equal(conn.ping('are you there'), true);
      assert.equal((await withTimeout(pong, WAIT_MS, 'the pong')).toString(), 'are you there');
      assertCompressedOnWire(conn.socket?.bytesRead ?? 0, 'bytes our client read');
      // Each side reports the close frame it received: nopoll echoes the code alone, ws the code and the reason.
      const [ours, theirs] =
        closer === 'client'
          ? [
              [4000, 'done from nopoll'],
              [4000, 'done from nopoll'],
            ]
          : [
              [4002, 'done from ws'],
              [4002, ''],
            ];
      let info: CloseInfo;
      if (closer === 'client') {
        info = await withTimeout(conn.close(4000, 'done from nopoll'), WAIT_MS, 'our close');
      } else {
        conn.sendText(closeRequest(4002, 'done from ws'));
        info = await withTimeout(conn.closed, WAIT_MS, 'the server closing');
      }
      assert.deepEqual(
        [info.code, info.reason, info.wasClean, info.error],
        [...ours, true, undefined],
        'our side of the close',
      );
      const seen = await nextEvent(peer, 'close');
      assert.deepEqual([seen.code, seen.reason, seen.wasClean], [...theirs, true], 'the ws side of the close');
    });
  }
});

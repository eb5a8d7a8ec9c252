/**
 * Ready-made peers for the integration tests: a nopoll echo listener that records what it received, a `ws` echo
 * server, and a `ws` client whose messages and close are collected into queues.
 */
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer, type ServerOptions } from 'ws';
import { Context } from '../../src/api/context.js';
import { Listener } from '../../src/api/listener.js';
import type { Conn } from '../../src/api/conn.js';
import type { ConnOptsInit } from '../../src/api/conn-opts.js';
import type { Msg } from '../../src/api/msg.js';
import type { TestContext } from 'node:test';
import { connect } from '../../src/api/conn.js';
import { RawServer, type RawIncoming, type RawPeer } from './raw-peer.js';
import { AsyncQueue, withTimeout } from './ws-async.js';

/** A nopoll listener on 127.0.0.1 that echoes text as text and binary as binary. */
export interface EchoListener {
  ctx: Context;
  listener: Listener;
  port: number;
  url: string;
  /** Every message received, with its connection. */
  received: AsyncQueue<{ conn: Conn; msg: Msg }>;
  /** Connections whose handshake completed. */
  ready: AsyncQueue<Conn>;
  /** Closes everything (listener and connections). */
  close(): Promise<void>;
}

/** Starts an echo listener. `echo: false` only records messages. */
export async function startEchoListener(opts: ConnOptsInit = {}, echo = true): Promise<EchoListener> {
  const ctx = new Context();
  const received = new AsyncQueue<{ conn: Conn; msg: Msg }>();
  const ready = new AsyncQueue<Conn>();
  ctx.onReady = (conn) => {
    ready.push(conn);
  };
  ctx.onMessage = (conn, msg) => {
    received.push({ conn, msg });
    if (!echo) return;
    if (msg.isText) conn.sendText(msg.payload);
    else conn.sendBinary(msg.payload);
  };
  // NOPOLL_TEST_LISTENER_HTTP2=1 (set by test/http2/h1-suites.test.ts) runs the suites built on this listener
  // against one that serves HTTP/2 too: HTTP/1.1 must behave the same on such a port.
  const http2 = process.env['NOPOLL_TEST_LISTENER_HTTP2'] === '1';
  const listener = await Listener.listen(ctx, { host: '127.0.0.1', port: 0, opts, ...(http2 ? { http2: true } : {}) });
  return {
    ctx,
    listener,
    port: listener.port,
    url: `ws://127.0.0.1:${listener.port}/`,
    received,
    ready,
    close: () => withTimeout(ctx.close(), 10_000, 'closing the echo listener'),
  };
}

/** A message as a `ws` peer received it. */
export interface WsMessage {
  data: Buffer;
  isBinary: boolean;
}

/** How a `ws` peer saw the connection end. */
export interface WsClose {
  code: number;
  reason: string;
  wasClean: boolean;
}

/** A `ws` socket with its events turned into queues. */
export interface WsPeer {
  ws: WebSocket;
  messages: AsyncQueue<WsMessage>;
  pings: AsyncQueue<Buffer>;
  pongs: AsyncQueue<Buffer>;
  /** Resolves once the socket closed. */
  closed: Promise<WsClose>;
}

/** Collects a `ws` socket's events. */
export function wrapWs(ws: WebSocket): WsPeer {
  const messages = new AsyncQueue<WsMessage>();
  const pings = new AsyncQueue<Buffer>();
  const pongs = new AsyncQueue<Buffer>();
  ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
    const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    messages.push({ data: bytes, isBinary });
  });
  ws.on('ping', (data: Buffer) => pings.push(data));
  ws.on('pong', (data: Buffer) => pongs.push(data));
  ws.on('error', () => undefined);
  const closed = new Promise<WsClose>((resolve) => {
    ws.addEventListener('close', (event) =>
      resolve({ code: event.code, reason: event.reason, wasClean: event.wasClean }),
    );
  });
  return { ws, messages, pings, pongs, closed };
}

/** Opens a `ws` client and waits for the handshake. */
export async function openWs(
  url: string,
  protocols?: string | string[],
  options: WebSocket.ClientOptions = {},
): Promise<WsPeer> {
  const ws = new WebSocket(url, protocols, options);
  const peer = wrapWs(ws);
  const opening = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`unexpected response ${res.statusCode}`)));
  });
  try {
    await withTimeout(opening, 5000, `opening ${url}`);
  } catch (error) {
    ws.terminate();
    throw error;
  }
  return peer;
}

/** A `ws` server on 127.0.0.1 without compression. */
export interface WsServerHandle {
  wss: WebSocketServer;
  port: number;
  url: string;
  /** Server-side sockets, as they connect. */
  connections: AsyncQueue<WsPeer>;
  /** Terminates every client and closes the server. */
  close(): Promise<void>;
}

/** Starts a `ws` server; `echo` makes it echo every message with its type. */
export async function startWsServer(
  options: Omit<ServerOptions, 'port' | 'host' | 'server' | 'noServer'> = {},
  echo = false,
): Promise<WsServerHandle> {
  const wss = new WebSocketServer({ perMessageDeflate: false, ...options, host: '127.0.0.1', port: 0 });
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      wss.once('listening', () => resolve());
      wss.once('error', reject);
    }),
    5000,
    'ws server listen',
  );
  const connections = new AsyncQueue<WsPeer>();
  wss.on('connection', (ws) => {
    const peer = wrapWs(ws);
    if (echo)
      ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => ws.send(data as Buffer, { binary: isBinary }));
    connections.push(peer);
  });
  const port = (wss.address() as AddressInfo).port;
  return {
    wss,
    port,
    url: `ws://127.0.0.1:${port}/`,
    connections,
    close: () =>
      withTimeout(
        new Promise<void>((resolve) => {
          for (const client of wss.clients) client.terminate();
          wss.close(() => resolve());
        }),
        5000,
        'closing the ws server',
      ),
  };
}

/**
 * Our client (echoing every message with its type) against a raw server that answers the upgrade by hand, adding
 * `responseHeaders`. Resolves once the client is ready; everything is closed after the test.
 */
export async function echoClientOnRawServer(
  t: TestContext,
  opts: ConnOptsInit = {},
  responseHeaders: string[] = [],
): Promise<{ peer: RawPeer; conn: Conn; incoming: RawIncoming }> {
  const raw = await RawServer.start();
  const ctx = new Context();
  t.after(async () => {
    await raw.close();
    await withTimeout(ctx.close(), 10_000, 'closing the client context');
  });
  ctx.onMessage = (conn, msg) => {
    if (msg.isText) conn.sendText(msg.payload);
    else conn.sendBinary(msg.payload);
  };
  const conn = connect(ctx, `ws://127.0.0.1:${raw.port}/`, opts);
  const incoming = await raw.next();
  const peer = RawServer.accept(incoming, responseHeaders);
  await conn.waitUntilReady({ timeoutMs: 3000 });
  return { peer, conn, incoming };
}

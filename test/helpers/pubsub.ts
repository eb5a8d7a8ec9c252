/**
 * Pub/sub test servers: a nopoll context and listener on a loopback port where every accepted connection subscribes
 * to the topic its URL path names (`ws://127.0.0.1:PORT/TOPIC`), resuming with `?since=` when given. Everything is
 * closed when the test ends.
 */
import type { TestContext } from 'node:test';
import type { Conn } from '../../src/api/conn.js';
import { Context, type ContextOptions } from '../../src/api/context.js';
import { Listener } from '../../src/api/listener.js';
import type { ConnOptsLike } from '../../src/api/conn-opts.js';
import { PUBSUB_PROTOCOL } from '../../src/api/pubsub-envelope.js';
import {
  redisBackplane,
  type RedisBackplane,
  type RedisBackplaneOptions,
  type RedisClientLike,
} from '../../src/redis/index.js';
import type { RedisServer } from './redis.js';
import WebSocket from 'ws';
import { AsyncQueue, withTimeout } from './ws-async.js';
import { wrapWs, type WsPeer } from './ws-peers.js';

/** A listener whose connections subscribe to their URL's topic. */
export interface TopicServer {
  ctx: Context;
  listener: Listener;
  port: number;
  /** `ws://127.0.0.1:PORT/TOPIC`. */
  url(topic: string, query?: string): string;
  /** Each connection once it is open and subscribed. */
  ready: AsyncQueue<Conn>;
}

/** The topic of a request path (`/TOPIC?...`). */
export function topicOf(requestedUrl: string): string {
  return decodeURIComponent(requestedUrl.split('?')[0]!.slice(1));
}

/** Starts a topic server; `onMessage` (optional) handles what subscribers send. */
export async function startTopicServer(
  t: TestContext,
  options: { context?: ContextOptions; opts?: ConnOptsLike; onMessage?: Context['onMessage'] } = {},
): Promise<TopicServer> {
  // Raw peers do not answer close frames: the end of a test need not wait the default 5 s for them.
  const ctx = new Context({ closeTimeoutMs: 500, ...options.context });
  const listener = await Listener.listen(ctx, {
    host: '127.0.0.1',
    port: 0,
    opts: { protocols: [PUBSUB_PROTOCOL], ...options.opts },
  });
  const ready = new AsyncQueue<Conn>();
  ctx.onReady = async (conn) => {
    const query = new URLSearchParams(conn.requestedUrl.split('?')[1] ?? '');
    const topic = topicOf(conn.requestedUrl);
    if (topic !== '') {
      const since = query.get('since');
      if (since !== null) await conn.resumeTopic(topic, since);
      else conn.subscribe(topic);
    }
    ready.push(conn);
  };
  if (options.onMessage) ctx.onMessage = options.onMessage;
  t.after(() => withTimeout(ctx.close(), 10_000, 'closing the topic server'));
  return {
    ctx,
    listener,
    port: listener.port,
    url: (topic, query) => `ws://127.0.0.1:${listener.port}/${encodeURIComponent(topic)}${query ? `?${query}` : ''}`,
    ready,
  };
}

/** Resolves once `check()` is true (polled every 10 ms), or rejects after `timeoutMs` with `what`. */
export async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A node: a topic server whose context uses a Redis backplane. */
export interface BackplaneNode extends TopicServer {
  backplane: RedisBackplane;
  client: RedisClientLike & { destroy(): void };
}

/** Starts a topic server on a Redis backplane (its own node-redis client, closed after the test). */
export async function startNode(
  t: TestContext,
  redis: RedisServer,
  options: Omit<RedisBackplaneOptions, 'client'> & { context?: ContextOptions } = {},
): Promise<BackplaneNode> {
  const client = (await redis.client()) as unknown as RedisClientLike & { destroy(): void };
  const { context, ...backplaneOptions } = options;
  const backplane = redisBackplane({ client, ...backplaneOptions });
  const server = await startTopicServer(t, { context: { ...context, pubsub: { ...context?.pubsub, backplane } } });
  server.ctx.pubsub.onGap = () => undefined; // counted in stats; not logged
  server.ctx.pubsub.onError = () => undefined;
  return { ...server, backplane, client };
}

/** A frame of the nopoll.pubsub.v1 subprotocol as a test reads it. */
export type V1Frame = {
  topic: string;
  offset: number | null;
  epoch: string | null;
  data: string;
  binary?: boolean;
  recovered?: boolean;
  gap?: boolean;
  missed?: number | null;
};

/** A `ws` client of the nopoll.pubsub.v1 subprotocol whose frames are collected from the first one on. */
export interface V1Subscriber {
  peer: WsPeer;
  frames: V1Frame[];
}

/** Opens a nopoll.pubsub.v1 subscriber (its message listener is in place before the handshake completes). */
export async function openV1(url: string): Promise<V1Subscriber> {
  const frames: V1Frame[] = [];
  const ws = new WebSocket(url, PUBSUB_PROTOCOL);
  ws.on('message', (data) => frames.push(JSON.parse(String(data)) as V1Frame));
  const peer = wrapWs(ws);
  try {
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      }),
      5000,
      `opening ${url}`,
    );
  } catch (error) {
    ws.terminate();
    throw error;
  }
  return { peer, frames };
}

/**
 * `nopoll relay`: a ready pub/sub server (docs/pubsub.md, "nopoll relay"). A client connecting to
 * `ws://H:P/TOPIC` subscribes to TOPIC, and every message it sends is delivered, with its type, to every other
 * subscriber of TOPIC, on every relay sharing the Redis given with `--redis`. With the subprotocol
 * `nopoll.pubsub.v1` deliveries are JSON envelopes, and `?since=EPOCH:OFFSET` resumes. `GET /` serves a chat page;
 * `GET /presence/TOPIC` answers `{"count","members"}` (members join with `?member=NAME`).
 * @packageDocumentation
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import {
  Context,
  Listener,
  parsePosition,
  PUBSUB_PROTOCOL,
  UpgradeRouter,
  type Backplane,
  type Conn,
  type SlowSubscriberPolicy,
} from '../index.js';
import { redisBackplane, type RedisClientLike } from '../redis/index.js';
import {
  failure,
  intOption,
  onSignals,
  parse,
  stringOption,
  usageError,
  wsUrl,
  type Command,
  type CommandSpec,
} from './args.js';
import { CHAT_PAGE } from './relay-page.js';

const SPEC: CommandSpec = {
  name: 'relay',
  summary: 'pub/sub server: ws://H:P/TOPIC subscribes to TOPIC (--redis URL --mode pubsub|streams to share topics)',
  usage: ['--port P [--host H] [--redis URL] [--mode pubsub|streams] [options]'],
  description:
    'A pub/sub server. A client connecting to ws://H:P/TOPIC subscribes to TOPIC; every message it sends goes, ' +
    'with its type, to every other subscriber of TOPIC on every relay that shares the Redis. With the subprotocol ' +
    'nopoll.pubsub.v1 each delivery is a text frame {"topic","offset","epoch","data"} (binary data in base64 with ' +
    '"binary": true) and ws://H:P/TOPIC?since=EPOCH:OFFSET resumes: the first frame is {"recovered": true|false}. ' +
    "?member=NAME joins the topic's presence (GET /presence/TOPIC). GET / serves a chat page. Prints " +
    '"listening on ws://H:P/" when ready (" (redis MODE)" after it with --redis); stops on SIGTERM or SIGINT and exits 0.',
  flags: [
    { name: 'port', value: 'P', help: 'port (required; 0 picks a free one)' },
    { name: 'host', value: 'H', help: 'address to bind (default 127.0.0.1)' },
    {
      name: 'redis',
      value: 'URL',
      help: 'share topics with every relay on this Redis (redis://...; needs the redis package)',
    },
    {
      name: 'mode',
      value: 'M',
      help: 'pubsub (default: at most once, gaps reported) or streams (offsets, resume, no loss; needs --redis)',
    },
    { name: 'prefix', value: 'P', help: 'prefix of the Redis keys and channels (default nopoll)' },
    { name: 'history-length', value: 'N', help: 'streams: messages kept per topic (default 1000)' },
    {
      name: 'history-age-ms',
      value: 'MS',
      help: 'streams: age past which a message is not replayed (default 300000; 0: none)',
    },
    { name: 'presence-ttl-ms', value: 'MS', help: "how long a dead relay's members stay listed (default 30000)" },
    {
      name: 'max-queued-bytes',
      value: 'B',
      help: 'unsent bytes per subscriber before the slow-subscriber policy (default 1 MiB)',
    },
    { name: 'slow-subscriber', value: 'P', help: 'drop (default), close (1008) or latest' },
    { name: 'max-message-size', value: 'B', help: 'largest message a client may send (default 1 MiB)' },
  ],
  maxPositionals: 0,
};

/** `nopoll relay`. */
export const relayCommand: Command = { spec: SPEC, run: relay };

/** Runs the relay. */
async function relay(argv: string[]): Promise<void> {
  const { values } = parse(SPEC, argv);
  if (values['port'] === undefined) usageError('--port is required');
  const port = intOption(values['port'], 'port', 0);
  const host = stringOption(values, 'host') ?? '127.0.0.1';
  const mode = stringOption(values, 'mode') ?? 'pubsub';
  if (mode !== 'pubsub' && mode !== 'streams')
    usageError(`--mode must be pubsub or streams, got ${JSON.stringify(mode)}`);
  const policy = stringOption(values, 'slow-subscriber') ?? 'drop';
  if (policy !== 'drop' && policy !== 'close' && policy !== 'latest')
    usageError(`--slow-subscriber must be drop, close or latest, got ${JSON.stringify(policy)}`);
  if (mode === 'streams' && values['redis'] === undefined) usageError('--mode streams needs --redis');

  const ctx = new Context({
    maxMessageSize: intOption(values['max-message-size'], 'max-message-size', 1024 * 1024) || 1024 * 1024,
  });
  ctx.pubsub.configure({
    maxQueuedBytes: intOption(values['max-queued-bytes'], 'max-queued-bytes', 1024 * 1024) || 1024 * 1024,
    slowSubscriber: policy as SlowSubscriberPolicy,
  });
  let client: RedisClientLike | null = null;
  if (typeof values['redis'] === 'string') {
    client = await connectRedis(values['redis']);
    const backplane: Backplane = redisBackplane({
      client,
      mode: mode as 'pubsub' | 'streams',
      ...(typeof values['prefix'] === 'string' ? { prefix: values['prefix'] } : {}),
      presence: { ttlMs: intOption(values['presence-ttl-ms'], 'presence-ttl-ms', 30_000) || 30_000 },
      ...(mode === 'streams'
        ? {
            history: {
              maxLength: intOption(values['history-length'], 'history-length', 1000) || 1000,
              maxAgeMs: intOption(values['history-age-ms'], 'history-age-ms', 300_000),
            },
          }
        : {}),
    });
    ctx.pubsub.configure({ backplane });
  }
  ctx.pubsub.onError = (error) => process.stderr.write(`nopoll relay: ${error.message}\n`);
  ctx.pubsub.onGap = (gap) =>
    process.stderr.write(
      `nopoll relay: gap on ${gap.topic} (${gap.reason}${gap.missed === null ? '' : `, ${gap.missed} missed`})\n`,
    );

  const listener = Listener.detached(ctx, { protocols: [PUBSUB_PROTOCOL] });
  ctx.onOpen = (conn) => {
    const target = requestTarget(conn.requestedUrl);
    if (target === null) return false;
    conn.hook = target;
    if (conn.requestedProtocols.includes(PUBSUB_PROTOCOL)) conn.acceptedProtocol = PUBSUB_PROTOCOL;
    return true;
  };
  ctx.onReady = (conn) => join(conn);
  ctx.onMessage = (conn, msg) => {
    const target = conn.hook as Target;
    conn.publish(target.topic, msg.payload, { binary: msg.isBinary });
  };

  const http = createServer((req, res) => serveHttp(ctx, req, res));
  http.on('clientError', (_error, socket) => socket.destroy());
  const router = new UpgradeRouter({ route: () => listener }).attach(http);
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen({ port, host, ipv6Only: false }, () => resolve());
  });
  const address = http.address();
  const bound = typeof address === 'object' && address !== null ? address.port : port;
  onSignals(async () => {
    await router.close();
    http.close();
    http.closeAllConnections();
    await ctx.close();
    if (client !== null) await closeQuietly(client);
  });
  process.stdout.write(`listening on ${wsUrl(host, bound)}${client === null ? '' : ` (redis ${mode})`}\n`);
}

/** What a connection asked for in its URL. */
interface Target {
  topic: string;
  since: string | null;
  member: string | null;
}

// `/TOPIC?since=EPOCH:OFFSET&member=NAME`: the path (percent-decoded, without the slash) names the topic.
function requestTarget(url: string): Target | null {
  let parsed: URL;
  try {
    parsed = new URL(url, 'http://relay');
  } catch {
    return null;
  }
  let topic: string;
  try {
    topic = decodeURIComponent(parsed.pathname.slice(1));
  } catch {
    return null;
  }
  if (topic.length === 0 || topic.length > 1024) return null;
  const member = parsed.searchParams.get('member');
  return { topic, since: parsed.searchParams.get('since'), member: member === '' ? null : member };
}

function join(conn: Conn): void {
  const target = conn.hook as Target;
  const options = target.member !== null ? { member: target.member.slice(0, 200) } : {};
  if (target.since === null) {
    conn.subscribe(target.topic, options);
    return;
  }
  // A position that does not parse cannot be recovered from: the answer is {"recovered": false}.
  const since = parsePosition(target.since) ?? { epoch: '', offset: 0 };
  conn
    .resumeTopic(target.topic, since, options)
    .catch((error: unknown) => conn.ctx.log('warning', `resume failed: ${String(error)}`));
}

function serveHttp(ctx: Context, req: IncomingMessage, res: ServerResponse): void {
  const url = req.url ?? '/';
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' }).end();
    return;
  }
  const path = url.split('?')[0]!;
  if (path === '/') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(CHAT_PAGE);
    return;
  }
  if (path.startsWith('/presence/')) {
    let topic = '';
    try {
      topic = decodeURIComponent(path.slice('/presence/'.length));
    } catch {
      /* answered 400 below */
    }
    if (topic === '' || topic.length > 1024) {
      res.writeHead(400).end();
      return;
    }
    ctx.pubsub.presence(topic).then(
      (presence) =>
        res
          .writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
          .end(JSON.stringify(presence)),
      (error: unknown) => res.writeHead(503, { 'content-type': 'text/plain' }).end(String(error)),
    );
    return;
  }
  res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
}

// The redis package is an optional peer dependency: loaded only when --redis is given.
async function connectRedis(url: string): Promise<RedisClientLike> {
  let createClient: (options: object) => RedisClientLike;
  try {
    ({ createClient } = (await import('redis' as string)) as { createClient: (options: object) => RedisClientLike });
  } catch {
    failure('--redis needs the redis package: npm install redis');
  }
  const client = createClient({
    url,
    socket: { reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 2000), connectTimeout: 5000 },
  });
  let lastError = '';
  client.on('error', (error: Error) => (lastError = error.message));
  const timer = setTimeout(() => failure(`cannot connect to ${url} within 10 s: ${lastError}`), 10_000);
  await client.connect();
  clearTimeout(timer);
  return client;
}

async function closeQuietly(client: RedisClientLike): Promise<void> {
  try {
    if (typeof client.close === 'function') await client.close();
    else await client.quit?.();
  } catch {
    /* exiting anyway */
  }
}

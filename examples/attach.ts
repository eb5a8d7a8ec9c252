// WebSocket endpoints on an existing http.Server (what Express, Fastify and Koa run on): plain HTTP on most paths,
// two WebSocket paths, each with its own context (handlers) and options; unknown upgrade paths get 404.
import { createServer, get } from 'node:http';
import { attach, Conn, Context } from '../src/index.js';
import { check, checkEqual, deadline, ok } from './lib/check.js';

deadline(20_000);
const server = createServer((req, res) => {
  res
    .writeHead(req.url === '/' ? 200 : 404, { 'Content-Type': 'text/plain' })
    .end(req.url === '/' ? 'plain HTTP here' : 'no');
});

const chat = new Context();
chat.onMessage = (conn, msg) => {
  for (const other of chat.conns) other.sendText(`${conn.id}: ${msg.text}`); // broadcast
};
const upper = new Context();
upper.onMessage = (conn, msg) => void conn.sendText(msg.text.toUpperCase());

const router = attach(server, {
  paths: {
    '/chat': chat,
    '/upper': { ctx: upper, opts: { maxMessageSize: 4096, protocols: ['upper.v1'] } },
  },
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address() as { port: number };

const page = await new Promise<string>((resolve, reject) => {
  get({ host: '127.0.0.1', port, path: '/' }, (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => (body += chunk));
    res.on('end', () => resolve(body));
  }).on('error', reject);
});
checkEqual(page, 'plain HTTP here', 'plain HTTP is untouched');

const clients = new Context();
const alice = await Conn.open(clients, `ws://127.0.0.1:${port}/chat`, { timeoutMs: 5000 });
const bob = await Conn.open(clients, `ws://127.0.0.1:${port}/chat`, { timeoutMs: 5000 });
alice.sendText('hi all');
const seenByBob = await bob.nextMsg({ timeoutMs: 5000 });
check(seenByBob.text.endsWith(': hi all'), `bob sees alice's message (${seenByBob.text})`);

const shouter = await Conn.open(clients, `ws://127.0.0.1:${port}/upper`, { protocols: ['upper.v1'], timeoutMs: 5000 });
checkEqual(shouter.acceptedProtocol, 'upper.v1', 'the endpoint options chose the subprotocol');
shouter.sendText('quiet');
checkEqual((await shouter.nextMsg({ timeoutMs: 5000 })).text, 'QUIET', 'the /upper endpoint');

const missing = await Conn.open(clients, `ws://127.0.0.1:${port}/nowhere`, { timeoutMs: 5000 }).then(
  () => 0,
  (error: { status?: number }) => error.status ?? -1,
);
checkEqual(missing, 404, 'an unknown WebSocket path is answered 404');

await clients.close();
await router.close();
await Promise.all([chat.close(), upper.close()]);
server.close();
ok('attach (existing http.Server)');

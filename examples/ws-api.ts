// nopoll/ws: code written for the `ws` package, with only its import changed, running on nopoll. Here a chat
// server broadcasting to `wss.clients` (ws's README pattern), whose heartbeat is nopoll's (the `nopoll` option)
// instead of a setInterval, and nopoll's Conn reached under a ws socket.
import WebSocket, { WebSocketServer, type RawData } from '../src/ws/index.js';
import { check, checkEqual, deadline, ok } from './lib/check.js';

deadline(20_000);

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: 0,
  // Ping a client after 200 ms of silence; drop it if nothing answers within 200 ms.
  nopoll: { opts: { pingIntervalMs: 200, pongTimeoutMs: 200 } },
});
wss.on('connection', (ws, req) => {
  ws.on('error', console.error);
  ws.send(`welcome ${new URL(req.url ?? '/', 'ws://x').searchParams.get('name')}`);
  ws.on('message', (data: RawData, isBinary: boolean) => {
    wss.clients.forEach((client) => {
      if (client !== ws && client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
    });
  });
});
await new Promise((resolve) => wss.once('listening', resolve));
const { port } = wss.address() as { port: number };

function join(name: string): Promise<{ ws: WebSocket; heard: string[] }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/chat?name=${name}`);
  const heard: string[] = [];
  ws.on('message', (data) => heard.push(String(data)));
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, heard }));
    ws.once('error', reject);
  });
}

const ada = await join('ada');
const bob = await join('bob');
ada.ws.send('hi bob');
await new Promise((resolve) => setTimeout(resolve, 100));
checkEqual(bob.heard, ['welcome bob', 'hi bob'], 'bob hears ada');
checkEqual(ada.heard, ['welcome ada'], 'ada does not hear herself');

// Quiet for longer than the ping interval: nopoll's heartbeat pings, the clients answer, nobody is dropped.
await new Promise((resolve) => setTimeout(resolve, 600));
check(
  ada.ws.readyState === WebSocket.OPEN && bob.ws.readyState === WebSocket.OPEN,
  'answered heartbeats keep the clients',
);

// Under each ws socket, nopoll's Conn.
const [server] = wss.clients;
check(server?.conn !== null && server?.conn?.isReady === true, 'websocket.conn is the nopoll connection');

for (const client of [ada.ws, bob.ws]) client.close();
await new Promise((resolve) => wss.close(resolve));
ok('ws-api (nopoll/ws)');

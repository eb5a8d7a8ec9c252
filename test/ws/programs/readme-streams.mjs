// ws README, "Use the Node.js streams API".
import WebSocket, { createWebSocketStream } from 'ws';

const ws = new WebSocket(process.env.URL);

const duplex = createWebSocketStream(ws, { encoding: 'utf8' });

duplex.on('error', console.error);

duplex.pipe(process.stdout);
process.stdin.pipe(duplex);

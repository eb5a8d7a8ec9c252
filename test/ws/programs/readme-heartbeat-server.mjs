// ws README FAQ, "How to detect and close broken connections?", the server (30 s interval in the README).
import { WebSocketServer } from 'ws';

function heartbeat() {
  this.isAlive = true;
}

const wss = new WebSocketServer({ port: Number(process.env.PORT), host: process.env.HOST });
wss.on('listening', () => console.log('listening %d', wss.address().port));

wss.on('connection', function connection(ws) {
  ws.isAlive = true;
  ws.on('error', console.error);
  ws.on('pong', heartbeat);
});

const interval = setInterval(function ping() {
  wss.clients.forEach(function each(ws) {
    if (ws.isAlive === false) return ws.terminate();

    ws.isAlive = false;
    ws.ping();
  });
}, Number(process.env.INTERVAL_MS));

wss.on('close', function close() {
  clearInterval(interval);
});

// ws README FAQ, "How to get the IP address of the client?" (both ways it shows).
import { WebSocketServer } from 'ws';

const wss = new WebSocketServer({ port: Number(process.env.PORT), host: process.env.HOST });
wss.on('listening', () => console.log('listening %d', wss.address().port));

wss.on('connection', function connection(ws, req) {
  const ip = req.socket.remoteAddress;
  const forwarded = req.headers['x-forwarded-for'].split(',')[0].trim();
  console.log('ip %s, forwarded for %s', ip, forwarded);

  ws.on('error', console.error);
});

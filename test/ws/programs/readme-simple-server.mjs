// ws README, "Simple server".
import { WebSocketServer } from 'ws';

const wss = new WebSocketServer({ port: Number(process.env.PORT), host: process.env.HOST });
wss.on('listening', () => console.log('listening %d', wss.address().port));

wss.on('connection', function connection(ws) {
  ws.on('error', console.error);

  ws.on('message', function message(data) {
    console.log('received: %s', data);
  });

  ws.send('something');
});

// ws README, "External HTTP/S server".
import { createServer } from 'https';
import { readFileSync } from 'fs';
import { WebSocketServer } from 'ws';

const server = createServer({
  cert: readFileSync(process.env.CERT),
  key: readFileSync(process.env.KEY),
});
const wss = new WebSocketServer({ server });

wss.on('connection', function connection(ws) {
  ws.on('error', console.error);

  ws.on('message', function message(data) {
    console.log('received: %s', data);
  });

  ws.send('something');
});

server.listen(Number(process.env.PORT), process.env.HOST, () => console.log('listening %d', server.address().port));

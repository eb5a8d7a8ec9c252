// ws README, "Sending and receiving text data".
import WebSocket from 'ws';

const ws = new WebSocket(process.env.URL);

ws.on('error', console.error);

ws.on('open', function open() {
  ws.send('something');
});

ws.on('message', function message(data) {
  console.log('received: %s', data);
});

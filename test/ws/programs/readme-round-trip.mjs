// ws README, "Round-trip time".
import WebSocket from 'ws';

const ws = new WebSocket(process.env.URL);

ws.on('error', console.error);

ws.on('open', function open() {
  console.log('connected');
  ws.send(Date.now());
});

ws.on('close', function close() {
  console.log('disconnected');
});

ws.on('message', function message(data) {
  console.log(`Round-trip time: ${Date.now() - data} ms`);

  setTimeout(function timeout() {
    ws.send(Date.now());
  }, Number(process.env.INTERVAL_MS));
});

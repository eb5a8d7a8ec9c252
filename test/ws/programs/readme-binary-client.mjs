// ws README, "Sending binary data".
import WebSocket from 'ws';

const ws = new WebSocket(process.env.URL);

ws.on('error', console.error);

ws.on('open', function open() {
  const array = new Float32Array(5);

  for (var i = 0; i < array.length; ++i) {
    array[i] = i / 2;
  }

  ws.send(array);
});

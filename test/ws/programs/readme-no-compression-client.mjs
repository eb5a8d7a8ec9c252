// ws README, "WebSocket compression": a client that never uses the extension.
import WebSocket from 'ws';

const ws = new WebSocket(process.env.URL, {
  perMessageDeflate: false,
});

ws.on('open', () => console.log('open, extensions: "%s"', ws.extensions));
ws.on('error', console.error);

'use strict';
// ws examples/ssl.js: an HTTPS server and a client of it in one program (certificate from test/fixtures/tls).

const https = require('https');
const fs = require('fs');

const { WebSocket, WebSocketServer } = require('ws');

const server = https.createServer({
  cert: fs.readFileSync(process.env.CERT),
  key: fs.readFileSync(process.env.KEY),
});

const wss = new WebSocketServer({ server });

wss.on('connection', function connection(ws) {
  ws.on('error', console.error);

  ws.on('message', function message(msg) {
    console.log(msg.toString());
  });
});

server.listen(Number(process.env.PORT), process.env.HOST, function listening() {
  //
  // If the `rejectUnauthorized` option is not `false`, the server certificate
  // is verified against a list of well-known CAs. An 'error' event is emitted
  // if verification fails.
  //
  // The certificate used in this example is self-signed so `rejectUnauthorized`
  // is set to `false`.
  //
  const ws = new WebSocket(`wss://${process.env.HOST}:${server.address().port}`, {
    rejectUnauthorized: false,
  });

  ws.on('error', console.error);

  ws.on('open', function open() {
    ws.send('All glory to WebSockets!');
  });
});

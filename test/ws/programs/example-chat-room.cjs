'use strict';
// ws examples/chat-room/index.js. No Express: a plain request handler stands in for the Express app.

const http = require('http');
const { WebSocketServer, WebSocket } = require('ws');

const app = function (req, res) {
  res.end('chat room');
};

// Create HTTP server and attach WebSocket server to it
const server = http.createServer(app);
const wss = new WebSocketServer({ server });

wss.on('connection', function connection(ws, request) {
  console.log('Client connected');

  ws.on('message', function message(data) {
    const text = data.toString();
    console.log('Received:', text);

    // Broadcast to everyone
    wss.clients.forEach(function each(client) {
      if (client.readyState === WebSocket.OPEN) {
        client.send(text);
      }
    });
  });

  ws.on('close', function () {
    console.log('Client disconnected');
  });

  ws.on('error', console.error);
});

server.listen(Number(process.env.PORT), process.env.HOST, function () {
  console.log('Listening on http://localhost:%d', server.address().port);
});

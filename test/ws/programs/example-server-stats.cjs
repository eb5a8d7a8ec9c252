'use strict';
// ws examples/server-stats/index.js. No Express: a plain request handler stands in for the Express app serving
// the page.

const { createServer } = require('http');

const { WebSocketServer } = require('ws');

const app = function (req, res) {
  res.setHeader('Content-Type', 'text/html');
  res.end('<!DOCTYPE html><title>server stats</title>');
};

const server = createServer(app);
const wss = new WebSocketServer({ server });

wss.on('connection', function (ws) {
  const id = setInterval(function () {
    ws.send(JSON.stringify(process.memoryUsage()), function () {
      //
      // Ignore errors.
      //
    });
  }, 100);
  console.log('started client interval');

  ws.on('error', console.error);

  ws.on('close', function () {
    console.log('stopping client interval');
    clearInterval(id);
  });
});

server.listen(Number(process.env.PORT), process.env.HOST, function () {
  console.log('Listening on http://localhost:%d', server.address().port);
});

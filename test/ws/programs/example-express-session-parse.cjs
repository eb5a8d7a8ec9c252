'use strict';
// ws examples/express-session-parse/index.js. No Express, express-session or uuid: a request handler with the same
// two routes, a session parser that reads a `sid` cookie, and crypto.randomUUID stand in for them.

const http = require('http');
const { randomUUID } = require('crypto');

const { WebSocketServer } = require('ws');

function onSocketError(err) {
  console.error(err);
}

const map = new Map();
const sessions = new Map();

//
// The same session parser is used by the HTTP routes and the WebSocket server.
//
function sessionParser(request, response, next) {
  const sid = /(?:^|;\s*)sid=([^;]+)/.exec(request.headers.cookie || '');
  const data = (sid && sessions.get(sid[1])) || {};
  request.session = {
    ...data,
    destroy(done) {
      if (sid) sessions.delete(sid[1]);
      done();
    },
  };
  next();
}

function app(request, response) {
  sessionParser(request, response, function () {
    if (request.method === 'POST' && request.url === '/login') {
      //
      // "Log in" user and set userId to session.
      //
      const id = randomUUID();
      const sid = randomUUID();

      console.log('Updating session for a user');
      sessions.set(sid, { userId: id });
      response.setHeader('Set-Cookie', `sid=${sid}`);
      response.end(JSON.stringify({ result: 'OK', message: 'Session updated' }));
    } else if (request.method === 'DELETE' && request.url === '/logout') {
      const ws = map.get(request.session.userId);

      console.log('Destroying session');
      request.session.destroy(function () {
        if (ws) ws.close();

        response.end(JSON.stringify({ result: 'OK', message: 'Session destroyed' }));
      });
    } else {
      response.statusCode = 404;
      response.end();
    }
  });
}

//
// Create an HTTP server.
//
const server = http.createServer(app);

//
// Create a WebSocket server completely detached from the HTTP server.
//
const wss = new WebSocketServer({ clientTracking: false, noServer: true });

server.on('upgrade', function (request, socket, head) {
  socket.on('error', onSocketError);

  console.log('Parsing session from request...');

  sessionParser(request, {}, () => {
    if (!request.session.userId) {
      socket.write('HTTP/1.1 401 Unauthorized\r\n\r\n');
      socket.destroy();
      return;
    }

    console.log('Session is parsed!');

    socket.removeListener('error', onSocketError);

    wss.handleUpgrade(request, socket, head, function (ws) {
      wss.emit('connection', ws, request);
    });
  });
});

wss.on('connection', function (ws, request) {
  const userId = request.session.userId;

  map.set(userId, ws);

  ws.on('error', console.error);

  ws.on('message', function (message) {
    //
    // Here we can now use session parameters.
    //
    console.log(`Received message ${message} from the user`);
  });

  ws.on('close', function () {
    map.delete(userId);
  });
});

//
// Start the server.
//
server.listen(Number(process.env.PORT), process.env.HOST, function () {
  console.log('Listening on http://localhost:%d', server.address().port);
});

// ws doc/ws.md, `verifyClient`: a synchronous one (a boolean) and an asynchronous one (a status, a reason and
// headers when it refuses).
import { WebSocketServer } from 'ws';

const sync = new WebSocketServer({
  port: Number(process.env.PORT),
  host: process.env.HOST,
  verifyClient: (info) => info.origin === 'https://good.example' && !info.secure,
});

const async = new WebSocketServer({
  port: Number(process.env.PORT),
  host: process.env.HOST,
  verifyClient: (info, cb) => {
    setTimeout(() => {
      if (info.req.headers.authorization === 'Bearer letmein') cb(true);
      else cb(false, 403, 'Go away', { 'Retry-After': 120 });
    }, 10);
  },
});

let listening = 0;
for (const wss of [sync, async]) {
  wss.on('listening', () => {
    if (++listening === 2) console.log('listening %d %d', sync.address().port, async.address().port);
  });
  wss.on('connection', (ws, req) => {
    console.log(
      'accepted %s on the %s server',
      req.headers.origin || req.headers.authorization,
      wss === sync ? 'sync' : 'async',
    );
    ws.on('error', console.error);
    ws.close(1000, 'welcome');
  });
}

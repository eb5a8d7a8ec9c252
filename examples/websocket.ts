// The browser's WebSocket interface in Node: code written for browsers runs (and type-checks) unchanged against any
// server.
import { Context, Listener, WebSocket } from '../src/index.js';
import { check, checkEqual, deadline, ok } from './lib/check.js';

deadline(20_000);
const serverCtx = new Context();
serverCtx.onMessage = (conn, msg) => {
  if (msg.isText) conn.sendText(`echo ${msg.text}`);
  else conn.sendBinary(msg.payload);
};
const listener = await Listener.listen(serverCtx, { host: '127.0.0.1', port: 0 });

// Browser code, as it would appear in a web page.
function talk(url: string): Promise<{ texts: string[]; bytes: number[]; code: number; wasClean: boolean }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    const texts: string[] = [];
    let bytes: number[] = [];
    ws.onopen = () => {
      ws.send('hello');
      ws.send(new Uint8Array([1, 2, 3]));
    };
    ws.onmessage = (event) => {
      if (typeof event.data === 'string') texts.push(event.data);
      else bytes = [...new Uint8Array(event.data)];
      if (texts.length === 1 && bytes.length > 0) ws.close(1000, 'done');
    };
    ws.onerror = () => reject(new Error('error event'));
    ws.addEventListener('close', (event) => {
      resolve({ texts, bytes, code: event.code, wasClean: event.wasClean });
    });
  });
}

const result = await talk(`ws://127.0.0.1:${listener.port}/`);
checkEqual(
  result,
  { texts: ['echo hello'], bytes: [1, 2, 3], code: 1000, wasClean: true },
  'the browser-style exchange',
);

// The standard's checks are there too.
let thrown = '';
try {
  new WebSocket('ws://127.0.0.1/#fragment');
} catch (error) {
  thrown = (error as DOMException).name;
}
checkEqual(thrown, 'SyntaxError', 'a URL with a fragment is refused');
check(WebSocket.OPEN === 1 && WebSocket.CLOSED === 3, 'readyState constants');

await serverCtx.close();
ok('websocket (WHATWG WebSocket class)');

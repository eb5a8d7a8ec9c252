/**
 * ws's README examples and examples/ folder programs (test/ws/programs), run unchanged but for the import: once on
 * `ws`, once on `nopoll/ws`. Server programs are driven by real `ws` clients, client programs talk to real `ws`
 * servers. Each scenario returns a transcript (what the program printed and what its peers saw); both runs must
 * give the same transcript, and it must be the expected one.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import WebSocket from 'ws';
import { certs, tlsFile } from '../helpers/tls.js';
import { delay, withTimeout } from '../helpers/ws-async.js';
import { openWs, startWsServer, wrapWs, type WsPeer } from '../helpers/ws-peers.js';
import { LIBS, runProgram, type Lib } from '../helpers/ws-programs.js';

type Scenario = (t: TestContext, lib: Lib) => Promise<string[]>;

/** Runs `scenario` on ws, then on nopoll/ws; both transcripts must equal `expected`. */
async function sameOnBoth(t: TestContext, scenario: Scenario, expected: string[]): Promise<void> {
  const got: string[][] = [];
  for (const lib of LIBS) got.push(await scenario(t, lib));
  assert.deepEqual(got[0], expected, 'the program on ws');
  assert.deepEqual(got[1], got[0], 'the program on nopoll/ws gives the same transcript as on ws');
}

/** A `ws` client attempt: `open` (then the peer), or how it failed. */
async function attempt(
  url: string,
  options: WebSocket.ClientOptions = {},
): Promise<{ result: string; peer: WsPeer | null }> {
  const ws = new WebSocket(url, options);
  const peer = wrapWs(ws);
  const result = await withTimeout(
    new Promise<string>((resolve) => {
      ws.once('open', () => resolve('open'));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          const retry = res.headers['retry-after'];
          resolve(
            `HTTP ${res.statusCode}${retry ? ` retry-after ${retry}` : ''}${body.trim() ? ` "${body.trim()}"` : ''}`,
          );
          ws.terminate();
        });
      });
      ws.once('error', (error: NodeJS.ErrnoException) => resolve(`error ${error.code ?? error.message}`));
    }),
    5000,
    `connecting to ${url}`,
  );
  if (result !== 'open') {
    ws.terminate();
    return { result, peer: null };
  }
  return { result, peer };
}

function text(m: { data: Buffer; isBinary: boolean }): string {
  return `${m.isBinary ? 'binary' : 'text'} ${m.isBinary ? m.data.toString('hex') : m.data.toString()}`;
}

/** An HTTP request to the program; resolves with the status, the Set-Cookie value and the body. */
function http(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; cookie: string; body: string }> {
  return withTimeout(
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            cookie: String(res.headers['set-cookie']?.[0] ?? '').split(';')[0]!,
            body,
          }),
        );
      });
      req.on('error', reject);
      req.end();
    }),
    5000,
    `${method} ${path}`,
  );
}

async function listening(p: ReturnType<typeof runProgram>): Promise<number> {
  return Number((await p.line(/^listening (\d+)/, 'the listening line'))[1]);
}

describe('ws README examples, on ws and on nopoll/ws', () => {
  it('"Simple server": a ws client is greeted and its messages printed', async (t) => {
    await sameOnBoth(
      t,
      async (t, lib) => {
        const p = runProgram(t, 'readme-simple-server.mjs', lib);
        const port = await listening(p);
        const peer = await openWs(`ws://127.0.0.1:${port}/`);
        const seen = [`client got ${text(await peer.messages.next())}`];
        peer.ws.send('hello');
        peer.ws.send(Buffer.from('bytes'));
        await p.line(/received: bytes/);
        peer.ws.close();
        seen.push(`client closed ${(await peer.closed).code}`);
        await p.stop();
        return [...seen, ...p.output.slice(1), `stderr: ${p.stderr()}`];
      },
      ['client got text something', 'client closed 1005', 'received: hello', 'received: bytes', 'stderr: '],
    );
  });

  it('"External HTTP/S server": the same over an https server of the application', async (t) => {
    await sameOnBoth(
      t,
      async (t, lib) => {
        const p = runProgram(t, 'readme-external-https-server.mjs', lib, {
          CERT: tlsFile('server.crt'),
          KEY: tlsFile('server.key'),
        });
        const port = await listening(p);
        const peer = await openWs(`wss://localhost:${port}/`, undefined, { ca: certs.ca });
        const seen = [`client got ${text(await peer.messages.next())}`];
        peer.ws.send('over TLS');
        await p.line(/received: over TLS/);
        peer.ws.close(4001, 'bye');
        seen.push(`client closed ${(await peer.closed).code}`);
        await p.stop();
        return [...seen, ...p.output.slice(1)];
      },
      ['client got text something', 'client closed 4001', 'received: over TLS'],
    );
  });

  it('"Multiple servers sharing a single HTTP/S server": noServer mode with two paths', async (t) => {
    await sameOnBoth(
      t,
      async (t, lib) => {
        const p = runProgram(t, 'readme-shared-server.mjs', lib);
        const port = await listening(p);
        const seen: string[] = [];
        for (const path of ['/foo', '/bar?x=1', '/baz']) {
          const { result, peer } = await attempt(`ws://127.0.0.1:${port}${path}`);
          seen.push(`${path}: ${result}`);
          if (peer !== null) {
            seen.push(`${path}: ${text(await peer.messages.next())}`);
            peer.ws.close();
            await peer.closed;
          }
        }
        await p.stop();
        return [...seen, `stderr: ${p.stderr()}`];
      },
      [
        '/foo: open',
        '/foo: text this is /foo',
        '/bar?x=1: open',
        '/bar?x=1: text this is /bar',
        '/baz: error ECONNRESET',
        'stderr: ',
      ],
    );
  });

  it('"Client authentication": the upgrade is refused with 401 or handed to handleUpgrade with the user', async (t) => {
    await sameOnBoth(
      t,
      async (t, lib) => {
        const p = runProgram(t, 'readme-client-auth.mjs', lib);
        const port = await listening(p);
        const refused = await attempt(`ws://127.0.0.1:${port}/`);
        const { result, peer } = await attempt(`ws://127.0.0.1:${port}/?token=ada`);
        peer!.ws.send('hi');
        await p.line(/Received message/);
        peer!.ws.terminate();
        await p.stop();
        return [refused.result, result, ...p.output.slice(1)];
      },
      ['HTTP 401', 'open', 'Received message hi from user user-ada'],
    );
  });

  for (const [name, others] of [
    ['readme-broadcast-all.mjs', false],
    ['readme-broadcast-others.mjs', true],
  ] as const) {
    it(`"Server broadcast" (${others ? 'to the others' : 'to everyone'}): wss.clients, binary kept binary`, async (t) => {
      await sameOnBoth(
        t,
        async (t, lib) => {
          const p = runProgram(t, name, lib);
          const port = await listening(p);
          const peers = [
            await openWs(`ws://127.0.0.1:${port}/`),
            await openWs(`ws://127.0.0.1:${port}/`),
            await openWs(`ws://127.0.0.1:${port}/`),
          ];
          t.after(() => peers.forEach((peer) => peer.ws.terminate()));
          // Give the server a moment to register the third client before anyone speaks.
          await delay(50);
          peers[0]!.ws.send('text from A');
          peers[0]!.ws.send(Buffer.from([1, 2, 3]));
          peers[1]!.ws.send('text from B');
          const seen: string[] = [];
          for (const [i, peer] of peers.entries()) {
            const expected = others ? (i === 0 ? 1 : i === 1 ? 2 : 3) : 3;
            const got: string[] = [];
            for (let n = 0; n < expected; n++) got.push(text(await peer.messages.next()));
            seen.push(`${'ABC'[i]}: ${got.sort().join(', ')}`);
          }
          await p.stop();
          return seen;
        },
        others
          ? [
              'A: text text from B',
              'B: binary 010203, text text from A',
              'C: binary 010203, text text from A, text text from B',
            ]
          : [
              'A: binary 010203, text text from A, text text from B',
              'B: binary 010203, text text from A, text text from B',
              'C: binary 010203, text text from A, text text from B',
            ],
      );
    });
  }

  it('FAQ "How to get the IP address of the client?": req.socket and X-Forwarded-For', async (t) => {
    await sameOnBoth(
      t,
      async (t, lib) => {
        const p = runProgram(t, 'readme-client-ip.mjs', lib);
        const port = await listening(p);
        const peer = await openWs(`ws://127.0.0.1:${port}/`, undefined, {
          headers: { 'X-Forwarded-For': '203.0.113.9, 10.0.0.1' },
        });
        await p.line(/^ip /);
        peer.ws.terminate();
        await p.stop();
        return p.output.slice(1);
      },
      ['ip 127.0.0.1, forwarded for 203.0.113.9'],
    );
  });

  it('FAQ "How to detect and close broken connections?": the server pings and terminates the client that stopped answering', async (t) => {
    await sameOnBoth(
      t,
      async (t, lib) => {
        // A client that does not answer is terminated at the second tick (300 to 600 ms); one that answers has
        // 300 ms to do so, plenty even on a loaded machine.
        const p = runProgram(t, 'readme-heartbeat-server.mjs', lib, { INTERVAL_MS: '300' });
        const port = await listening(p);
        const good = await openWs(`ws://127.0.0.1:${port}/`);
        const lazy = await openWs(`ws://127.0.0.1:${port}/`, undefined, { autoPong: false });
        t.after(() => good.ws.terminate());
        const closed = await withTimeout(lazy.closed, 3000, 'the lazy client being terminated');
        const pings = await good.pings.next(1000, 'a ping to the good client');
        const state = good.ws.readyState === WebSocket.OPEN ? 'open' : 'not open';
        await p.stop();
        return [`lazy client closed ${closed.code}`, `good client pinged (${pings.length} bytes) and ${state}`];
      },
      ['lazy client closed 1006', 'good client pinged (0 bytes) and open'],
    );
  });

  it('FAQ "How to detect and close broken connections?": the client terminates when the pings stop', async (t) => {
    await sameOnBoth(
      t,
      async (t, lib) => {
        const server = await startWsServer();
        t.after(() => server.close());
        // The client terminates 500 ms after the last ping (INTERVAL_MS + 100); pings come every ~50 ms meanwhile.
        const p = runProgram(t, 'readme-heartbeat-client.mjs', lib, { URL: server.url, INTERVAL_MS: '400' });
        const peer = await server.connections.next(5000, 'the client');
        for (let i = 0; i < 3; i++) {
          peer.ws.ping();
          await peer.pongs.next(1000, 'the pong');
          await delay(50);
        }
        const closed = await withTimeout(peer.closed, 3000, 'the client terminating');
        await p.line(/closed/);
        return [`server saw ${closed.code}`, ...p.output];
      },
      ['server saw 1006', 'closed'],
    );
  });

  it('"Sending and receiving text data": against a ws echo server', async (t) => {
    await sameOnBoth(
      t,
      async (t, lib) => {
        const server = await startWsServer({}, true);
        t.after(() => server.close());
        const p = runProgram(t, 'readme-text-client.mjs', lib, { URL: `${server.url}path` });
        await p.line(/received/);
        await p.stop();
        return p.output;
      },
      ['received: something'],
    );
  });

  it('"Sending binary data": a Float32Array arrives as its bytes, binary', async (t) => {
    await sameOnBoth(
      t,
      async (t, lib) => {
        const server = await startWsServer();
        t.after(() => server.close());
        const p = runProgram(t, 'readme-binary-client.mjs', lib, { URL: server.url });
        const peer = await server.connections.next(5000, 'the client');
        const got = text(await peer.messages.next());
        await p.stop();
        return [got];
      },
      [`binary ${Buffer.from(new Float32Array([0, 0.5, 1, 1.5, 2]).buffer).toString('hex')}`],
    );
  });

  it('"Round-trip time": numbers sent as text and echoed', async (t) => {
    await sameOnBoth(
      t,
      async (t, lib) => {
        const server = await startWsServer({}, true);
        t.after(() => server.close());
        const p = runProgram(t, 'readme-round-trip.mjs', lib, { URL: server.url, INTERVAL_MS: '20' });
        for (let i = 0; i < 3; i++) await p.line(/Round-trip time/);
        const peer = await server.connections.next(5000, 'the client');
        peer.ws.close(1001);
        await p.line(/disconnected/);
        await p.stop();
        return p.output
          .slice(0, 4)
          .concat(p.output.slice(-1))
          .map((line) => line.replace(/-?\d+ ms/, 'N ms'));
      },
      ['connected', 'Round-trip time: N ms', 'Round-trip time: N ms', 'Round-trip time: N ms', 'disconnected'],
    );
  });

  it('"Use the Node.js streams API": stdin to the server and back to stdout, then a clean end', async (t) => {
    await sameOnBoth(
      t,
      async (t, lib) => {
        const server = await startWsServer({}, true);
        t.after(() => server.close());
        const p = runProgram(t, 'readme-streams.mjs', lib, { URL: server.url });
        const peer = await server.connections.next(5000, 'the client');
        p.child.stdin.write('hello\n');
        await p.line(/hello/);
        p.child.stdin.end('world\n');
        await p.line(/world/);
        const closed = await withTimeout(peer.closed, 5000, 'the stream closing the WebSocket');
        const code = await withTimeout(p.exited, 5000, 'the program ending');
        return [...p.output, `server saw ${closed.code}`, `exit ${code}`];
      },
      ['hello', 'world', 'server saw 1005', 'exit 0'],
    );
  });

  it('"WebSocket compression": the server options, negotiated with a ws client', async (t) => {
    await sameOnBoth(
      t,
      async (t, lib) => {
        const p = runProgram(t, 'readme-compression.mjs', lib);
        const port = await listening(p);
        const peer = await openWs(`ws://127.0.0.1:${port}/`, undefined, { perMessageDeflate: true });
        const big = 'compress me '.repeat(200);
        peer.ws.send(big);
        const echo = await peer.messages.next();
        await p.line(/received/);
        peer.ws.terminate();
        await p.stop();
        return [
          `client extensions: ${peer.ws.extensions}`,
          `echo intact: ${echo.data.toString() === big}`,
          ...p.output.slice(1),
        ];
      },
      [
        'client extensions: permessage-deflate',
        'echo intact: true',
        'received 2400 bytes, extensions: permessage-deflate',
      ],
    );
  });

  it('"WebSocket compression": a client with perMessageDeflate: false offers nothing', async (t) => {
    await sameOnBoth(
      t,
      async (t, lib) => {
        const server = await startWsServer({ perMessageDeflate: true });
        t.after(() => server.close());
        let offered = '';
        server.wss.once('headers', (_headers, req) => (offered = req.headers['sec-websocket-extensions'] ?? 'none'));
        const p = runProgram(t, 'readme-no-compression-client.mjs', lib, { URL: server.url });
        await p.line(/open/);
        await p.stop();
        return [`offered: ${offered}`, ...p.output];
      },
      ['offered: none', 'open, extensions: ""'],
    );
  });
});

describe('ws examples/ programs, on ws and on nopoll/ws', () => {
  it('server-stats: an HTTP app and the WebSocket server on one server (the server option)', async (t) => {
    await sameOnBoth(
      t,
      async (t, lib) => {
        const p = runProgram(t, 'example-server-stats.cjs', lib);
        const port = Number((await p.line(/^Listening on http:\/\/localhost:(\d+)/))[1]);
        const page = await http(port, 'GET', '/');
        const peer = await openWs(`ws://127.0.0.1:${port}/`);
        const keys: string[] = [];
        for (let i = 0; i < 3; i++)
          keys.push(
            Object.keys(JSON.parse((await peer.messages.next()).data.toString()) as object)
              .sort()
              .join(','),
          );
        peer.ws.close();
        await p.line(/stopping client interval/);
        await p.stop();
        return [
          `GET / ${page.status} ${page.body}`,
          `same keys each time: ${new Set(keys).size === 1} (${keys[0]})`,
          ...p.output.slice(1),
        ];
      },
      [
        'GET / 200 <!DOCTYPE html><title>server stats</title>',
        `same keys each time: true (${Object.keys(process.memoryUsage()).sort().join(',')})`,
        'started client interval',
        'stopping client interval',
      ],
    );
  });

  it('chat-room: broadcast to every open client, with WebSocket.OPEN from the require()d module', async (t) => {
    await sameOnBoth(
      t,
      async (t, lib) => {
        const p = runProgram(t, 'example-chat-room.cjs', lib);
        const port = Number((await p.line(/^Listening on http:\/\/localhost:(\d+)/))[1]);
        const a = await openWs(`ws://127.0.0.1:${port}/`);
        await p.line(/Client connected/);
        const b = await openWs(`ws://127.0.0.1:${port}/`);
        await p.line(/Client connected/);
        a.ws.send(Buffer.from('hello all'));
        const seen = [`A: ${text(await a.messages.next())}`, `B: ${text(await b.messages.next())}`];
        a.ws.close();
        await p.line(/Client disconnected/);
        b.ws.close();
        await p.line(/Client disconnected/);
        await p.stop();
        return [...seen, ...p.output.slice(1)];
      },
      [
        'A: text hello all',
        'B: text hello all',
        'Client connected',
        'Client connected',
        'Received: hello all',
        'Client disconnected',
        'Client disconnected',
      ],
    );
  });

  it('express-session-parse: 401 without a session, messages with one, ws.close() on logout', async (t) => {
    await sameOnBoth(
      t,
      async (t, lib) => {
        const p = runProgram(t, 'example-express-session-parse.cjs', lib);
        const port = Number((await p.line(/^Listening on http:\/\/localhost:(\d+)/))[1]);
        const url = `ws://127.0.0.1:${port}/`;
        const anonymous = await attempt(url);
        const login = await http(port, 'POST', '/login');
        const { result, peer } = await attempt(url, { headers: { Cookie: login.cookie } });
        peer!.ws.send('hi');
        await p.line(/Received message/);
        const logout = await http(port, 'DELETE', '/logout', { Cookie: login.cookie });
        const closed = await withTimeout(peer!.closed, 5000, 'the close on logout');
        await p.stop();
        return [anonymous.result, login.body, result, logout.body, `closed ${closed.code}`, ...p.output.slice(1)];
      },
      [
        'HTTP 401',
        '{"result":"OK","message":"Session updated"}',
        'open',
        '{"result":"OK","message":"Session destroyed"}',
        'closed 1005',
        'Parsing session from request...',
        'Updating session for a user',
        'Parsing session from request...',
        'Session is parsed!',
        'Received message hi from the user',
        'Destroying session',
      ],
    );
  });

  it('ssl: an https server and a wss client with rejectUnauthorized: false, in one program', async (t) => {
    await sameOnBoth(
      t,
      async (t, lib) => {
        const p = runProgram(t, 'example-ssl.cjs', lib, { CERT: tlsFile('server.crt'), KEY: tlsFile('server.key') });
        await p.line(/All glory/);
        await p.stop();
        return [...p.output, `stderr: ${p.stderr()}`];
      },
      ['All glory to WebSockets!', 'stderr: '],
    );
  });
});

describe('ws doc/ws.md: verifyClient, on ws and on nopoll/ws', () => {
  it('a synchronous verifyClient answers 401; an asynchronous one chooses the status, reason and headers', async (t) => {
    await sameOnBoth(
      t,
      async (t, lib) => {
        const p = runProgram(t, 'doc-verify-client.mjs', lib);
        const [, sync, async] = await p.line(/^listening (\d+) (\d+)/);
        const seen: string[] = [];
        for (const [url, options] of [
          [`ws://127.0.0.1:${sync}/`, { origin: 'https://evil.example' }],
          [`ws://127.0.0.1:${sync}/`, { origin: 'https://good.example' }],
          [`ws://127.0.0.1:${async}/`, {}],
          [`ws://127.0.0.1:${async}/`, { headers: { Authorization: 'Bearer letmein' } }],
        ] as const) {
          const { result, peer } = await attempt(url, options);
          if (peer === null) {
            seen.push(result);
            continue;
          }
          const closed = await peer.closed;
          seen.push(`${result}, closed ${closed.code} ${closed.reason}`);
        }
        await p.stop();
        return [...seen, ...p.output.slice(1)];
      },
      [
        'HTTP 401 "Unauthorized"',
        'open, closed 1000 welcome',
        'HTTP 403 retry-after 120 "Go away"',
        'open, closed 1000 welcome',
        'accepted https://good.example on the sync server',
        'accepted Bearer letmein on the async server',
      ],
    );
  });
});

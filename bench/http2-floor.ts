/**
 * What Node's HTTP/2 itself costs, with no WebSocket on top: a bare byte echo over 10 streams of one cleartext
 * HTTP/2 connection against the same echo over 10 TCP connections, each keeping 4 chunks in flight. Prints
 * chunks/s and the echo process's CPU per chunk (/proc, all threads). It puts the `npm run bench -- --http2`
 * ratios in context: a WebSocket over HTTP/2 cannot be cheaper than the stream under it.
 *   node build/bench/http2-floor.js [chunkBytes...]     (default: 72 16392 65544: a 64 B, 16 KiB, 64 KiB frame)
 * The echo runs in a child process (`node build/bench/http2-floor.js --serve h2|tcp`).
 */
import { fork } from 'node:child_process';
import { connect as h2Connect, createServer as createH2Server } from 'node:http2';
import { connect as netConnect, createServer as createNetServer, type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { processCpuMicros } from './lib/procfs.js';

const WINDOW = 1024 * 1024;
const STREAMS = 10;
const IN_FLIGHT = 4;

function serve(mode: 'h2' | 'tcp'): void {
  if (mode === 'h2') {
    const server = createH2Server({ settings: { enableConnectProtocol: true, initialWindowSize: WINDOW } });
    server.on('connection', (socket: { setNoDelay(on: boolean): void }) => socket.setNoDelay(true));
    server.on('session', (session) => session.setLocalWindowSize(16 * WINDOW));
    server.on('stream', (stream) => {
      stream.respond({ ':status': 200 });
      stream.on('data', (chunk: Buffer) => stream.write(chunk));
    });
    server.listen(0, '127.0.0.1', () => process.send!((server.address() as AddressInfo).port));
  } else {
    const server = createNetServer({ noDelay: true }, (socket) =>
      socket.on('data', (chunk: Buffer) => socket.write(chunk)),
    );
    server.listen(0, '127.0.0.1', () => process.send!((server.address() as AddressInfo).port));
  }
}

async function openDuplexes(mode: 'h2' | 'tcp', port: number): Promise<Duplex[]> {
  const out: Duplex[] = [];
  if (mode === 'tcp') {
    for (let i = 0; i < STREAMS; i++) {
      const socket = netConnect({ port, host: '127.0.0.1', noDelay: true });
      socket.on('error', () => undefined); // the echo is killed at the end
      await new Promise((resolve) => socket.once('connect', resolve));
      out.push(socket);
    }
    return out;
  }
  const session = h2Connect(`http://127.0.0.1:${port}`, {
    createConnection: () => netConnect({ port, host: '127.0.0.1', noDelay: true }).on('error', () => undefined),
    settings: { initialWindowSize: WINDOW },
  });
  session.on('error', () => undefined); // the echo is killed at the end
  await new Promise((resolve) => session.once('remoteSettings', resolve));
  session.setLocalWindowSize(16 * WINDOW);
  for (let i = 0; i < STREAMS; i++) {
    const stream = session.request(
      { ':method': 'CONNECT', ':protocol': 'websocket', ':path': '/' },
      { endStream: false },
    );
    stream.on('error', () => undefined);
    await new Promise((resolve) => stream.once('response', resolve));
    out.push(stream);
  }
  return out;
}

async function measure(mode: 'h2' | 'tcp', chunkBytes: number): Promise<{ perSecond: number; cpuMicros: number }> {
  const child = fork(fileURLToPath(import.meta.url), ['--serve', mode]);
  try {
    const port = await new Promise<number>((resolve) => child.once('message', (p) => resolve(p as number)));
    const duplexes = await openDuplexes(mode, port);
    const chunk = Buffer.alloc(chunkBytes, 1);
    let bytes = 0;
    for (const d of duplexes) {
      let pending = 0;
      d.on('data', (data: Buffer) => {
        bytes += data.length;
        pending += data.length;
        while (pending >= chunkBytes) {
          pending -= chunkBytes;
          d.write(chunk);
        }
      });
      for (let k = 0; k < IN_FLIGHT; k++) d.write(chunk);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    const b0 = bytes;
    const c0 = processCpuMicros(child.pid!) ?? NaN;
    const t0 = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const chunks = (bytes - b0) / chunkBytes;
    const cpu = (processCpuMicros(child.pid!) ?? NaN) - c0;
    for (const d of duplexes) d.destroy();
    return { perSecond: chunks / ((performance.now() - t0) / 1000), cpuMicros: cpu / chunks };
  } finally {
    child.kill('SIGKILL');
  }
}

async function main(): Promise<void> {
  const sizes = process.argv
    .slice(2)
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0);
  for (const size of sizes.length > 0 ? sizes : [72, 16392, 65544]) {
    const tcp = await measure('tcp', size);
    const h2 = await measure('h2', size);
    process.stdout.write(
      `${String(size).padStart(8)} B chunks: TCP ${tcp.perSecond.toFixed(0)}/s ${tcp.cpuMicros.toFixed(2)} µs each; ` +
        `HTTP/2 ${h2.perSecond.toFixed(0)}/s ${h2.cpuMicros.toFixed(2)} µs each; HTTP/2 over TCP: ` +
        `${(h2.perSecond / tcp.perSecond).toFixed(2)}x the rate, ${(tcp.cpuMicros / h2.cpuMicros).toFixed(2)}x the efficiency\n`,
    );
  }
  process.exit(0);
}

if (process.argv[2] === '--serve') serve(process.argv[3] === 'h2' ? 'h2' : 'tcp');
else void main();

/**
 * Seeded random and mutation fuzzer (issue 6 item 3), shared by the quick run in `npm test` (fuzz.test.ts) and the
 * long one (`npm run fuzz -- --iterations N [--seed S]`, scripts/fuzz.mjs). Two targets:
 * - the protocol core: a Session of either role fed valid frame streams with one bit or byte changed (or bytes
 *   inserted, deleted, truncated), random lengths, random chunking. Nothing may throw, at most one ending is
 *   reported, and the bytes held stay under the limits;
 * - a live listener over loopback (with an idle timeout: a peer that stops mid-frame is a live connection
 *   otherwise): mutated handshakes followed by mutated frame streams in random chunks. Every
 *   connection must end (bounded), the process stays up, and the listener still serves afterwards.
 */
import { connect, type Socket } from 'node:net';
import { Session, type Role } from '../../src/protocol/session.js';
import { Peer, RecordingHandler, closePayload, OP } from '../helpers/frames.js';

/** A small fast PRNG (mulberry32): the same seed gives the same run. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rand = () => number;
const int = (r: Rand, n: number): number => Math.floor(r() * n);

function randomBytes(r: Rand, n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) out[i] = int(r, 256);
  return out;
}

function randomLength(r: Rand): number {
  const k = r();
  return k < 0.5 ? int(r, 126) : k < 0.85 ? int(r, 70_000) : int(r, 300_000);
}

/** A valid frame stream as the peer of a `role` session sends it: messages, fragments, pings, pongs, maybe a close. */
export function validStream(r: Rand, role: Role): Buffer {
  const peer = new Peer(role);
  const parts: Buffer[] = [];
  const count = 1 + int(r, 8);
  for (let i = 0; i < count; i++) {
    const kind = int(r, 5);
    if (kind === 0) parts.push(peer.text('é'.repeat(int(r, 200))));
    else if (kind === 1) parts.push(peer.binary(randomBytes(r, randomLength(r))));
    else if (kind === 2) parts.push(peer.ping(randomBytes(r, int(r, 126))));
    else if (kind === 3) parts.push(peer.pong(randomBytes(r, int(r, 126))));
    else {
      const n = 1 + int(r, 6);
      for (let f = 0; f < n; f++) {
        parts.push(
          peer.frame({
            opcode: f === 0 ? OP.BINARY : OP.CONT,
            fin: f === n - 1,
            payload: randomBytes(r, int(r, 3000)),
          }),
        );
        if (r() < 0.3) parts.push(peer.ping('in between'));
      }
    }
  }
  if (r() < 0.3) parts.push(peer.frame({ opcode: OP.CLOSE, payload: closePayload(1000, 'bye') }));
  return Buffer.concat(parts);
}

/** One mutation: a bit flipped, a byte replaced, bytes inserted or deleted, or the stream truncated. */
export function mutate(r: Rand, bytes: Buffer): Buffer {
  if (bytes.length === 0) return randomBytes(r, 1 + int(r, 64));
  const at = int(r, bytes.length);
  const out = Buffer.from(bytes);
  switch (int(r, 5)) {
    case 0:
      out[at] = out[at]! ^ (1 << int(r, 8));
      return out;
    case 1:
      out[at] = int(r, 256);
      return out;
    case 2:
      return Buffer.concat([out.subarray(0, at), randomBytes(r, 1 + int(r, 16)), out.subarray(at)]);
    case 3:
      return Buffer.concat([out.subarray(0, at), out.subarray(Math.min(out.length, at + 1 + int(r, 16)))]);
    default:
      return out.subarray(0, at);
  }
}

/** Random cut points. */
export function chunks(r: Rand, bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (at < bytes.length) {
    const n = r() < 0.2 ? 1 : 1 + int(r, r() < 0.5 ? 64 : 65_536);
    out.push(bytes.subarray(at, at + n));
    at += n;
  }
  return out;
}

/** Figures of a core run. */
export interface CoreStats {
  iterations: number;
  bytes: number;
  failedConnections: number;
  messages: number;
  problems: string[];
}

const MAX_FRAME = 128 * 1024;
const MAX_MESSAGE = 256 * 1024;

/** Fuzzes the protocol core for `iterations` streams from `seed`. */
export function fuzzCore(iterations: number, seed: number): CoreStats {
  const r = rng(seed);
  const stats: CoreStats = { iterations, bytes: 0, failedConnections: 0, messages: 0, problems: [] };
  for (let i = 0; i < iterations; i++) {
    const role: Role = r() < 0.5 ? 'server' : 'client';
    let bytes: Buffer = validStream(r, role);
    const mutations = r() < 0.15 ? 0 : 1 + (r() < 0.2 ? int(r, 4) : 0);
    for (let m = 0; m < mutations; m++) bytes = mutate(r, bytes);
    const handler = new RecordingHandler(false);
    const session = new Session(handler, {
      role,
      maxFrameBytes: MAX_FRAME,
      maxMessageBytes: MAX_MESSAGE,
      deliverFrames: r() < 0.2,
    });
    stats.bytes += bytes.length;
    try {
      for (const chunk of chunks(r, bytes)) {
        session.receive(Buffer.from(chunk));
        if (session.bufferedBytes > MAX_MESSAGE + MAX_FRAME)
          stats.problems.push(`#${i}: ${session.bufferedBytes} bytes held`);
      }
    } catch (error) {
      stats.problems.push(`#${i} (${role}, seed ${seed}): threw ${String(error)}`);
      continue;
    }
    const endings = handler.events.filter((e) => e.type === 'error' || e.type === 'close').length;
    if (endings > 1) stats.problems.push(`#${i}: ${endings} endings`);
    if (handler.events.some((e) => e.type === 'error')) stats.failedConnections++;
    stats.messages += handler.events.filter((e) => e.type === 'message').length;
  }
  return stats;
}

/** Figures of a live run. */
export interface LiveStats {
  connections: number;
  upgraded: number;
  problems: string[];
}

const HEAD = (key: string): string =>
  `GET /fuzz HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`;

/**
 * Fuzzes a live listener on 127.0.0.1:`port` with `connections` connections, `parallel` at a time. The listener
 * should have short handshake and close timeouts; each connection must end within `endWithinMs`.
 */
export async function fuzzLive(
  port: number,
  connections: number,
  seed: number,
  parallel = 16,
  endWithinMs = 8000,
): Promise<LiveStats> {
  const r = rng(seed);
  const stats: LiveStats = { connections, upgraded: 0, problems: [] };
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < connections) {
      const i = next++;
      let head: Buffer = Buffer.from(HEAD(randomBytes(r, 16).toString('base64')), 'latin1');
      if (r() < 0.3) head = mutate(r, head);
      let frames: Buffer = validStream(r, 'server');
      if (r() < 0.8) frames = mutate(r, frames);
      const pieces = chunks(r, Buffer.concat([head, frames]));
      const halfClose = r() < 0.5;
      const result = await oneConnection(port, pieces, halfClose, endWithinMs);
      if (result === 'hung')
        stats.problems.push(`connection #${i} (seed ${seed}) did not end within ${endWithinMs} ms`);
      if (result === 'upgraded') stats.upgraded++;
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return stats;
}

function oneConnection(
  port: number,
  pieces: Buffer[],
  halfClose: boolean,
  endWithinMs: number,
): Promise<'upgraded' | 'ended' | 'hung'> {
  return new Promise((resolve) => {
    const socket: Socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    let upgraded = false;
    let seen = '';
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      if (seen.length < 16) seen += chunk.toString('latin1', 0, 16);
      if (seen.startsWith('HTTP/1.1 101')) upgraded = true;
    });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve('hung');
    }, endWithinMs);
    const done = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(upgraded ? 'upgraded' : 'ended');
    };
    // The server's FIN ends the test connection (the socket allows half-open TCP, so 'end' is the signal).
    socket.once('end', done);
    socket.once('close', done);
    socket.once('connect', () => {
      for (const piece of pieces) socket.write(piece);
      if (halfClose) socket.end();
    });
  });
}

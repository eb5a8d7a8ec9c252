/**
 * A connection's whole life, per second: `concurrency` lanes, each in a loop of connect, upgrade, client-initiated
 * closing handshake (RFC 6455 §7.1.2: we send a close frame and must receive the server's), and the server closing
 * TCP first (§7.1.1), then the next connection. A connection counts when its TCP close arrives after the server's
 * FIN and after a valid close frame; anything else (a refused upgrade, no close frame, a malformed one, data frames,
 * a reset, our side ending first, a stall) counts as an error.
 */
import { connect, type Socket } from 'node:net';
import type { JobSuccess, LifecycleJob } from '../lib/jobs.js';
import { CLOSE_FRAME, isSwitchingProtocols, OP_CLOSE, upgradeRequest } from './frames.js';
import { CpuWindow, sleep } from './window.js';

const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');
// A lane whose connection makes no progress for this long is reset and the connection counted as an error.
const STALL_MS = 3_000;

/**
 * What the server sent after its 101 head, judged once TCP has closed: 'ok' for exactly one valid close frame
 * (unmasked, final, opcode 8, no RSV bits, a body of 0 or 2-125 bytes whose code is one a server may send), else
 * why not.
 */
export function judgeCloseFrame(bytes: Buffer): 'ok' | string {
  if (bytes.length < 2) return 'no close frame';
  const b0 = bytes[0]!;
  const b1 = bytes[1]!;
  if (b0 !== (0x80 | OP_CLOSE)) return `first frame is not a final close frame (0x${b0.toString(16)})`;
  if ((b1 & 0x80) !== 0) return 'masked close frame from the server';
  const length = b1 & 0x7f;
  if (length > 125 || length === 1) return `close frame body of ${length} bytes`;
  if (bytes.length !== 2 + length)
    return bytes.length < 2 + length ? 'truncated close frame' : 'bytes after the close frame';
  if (length >= 2) {
    const code = bytes.readUInt16BE(2);
    // §7.4.1: 1005, 1006 and 1015 are never sent; below 1000 and 1016-2999 are not assigned.
    if (
      code < 1000 ||
      code === 1004 ||
      code === 1005 ||
      code === 1006 ||
      (code >= 1015 && code < 3000) ||
      code > 4999
    ) {
      return `close code ${code}`;
    }
  }
  return 'ok';
}

interface Lane {
  socket: Socket | null;
  startedAt: number;
}

export async function runLifecycle(job: LifecycleJob): Promise<JobSuccess> {
  const { host, port } = job.target;
  const request = upgradeRequest(host, port);
  let running = true;
  let completed = 0;
  let errors = 0;
  let active = 0;
  const reasons = new Map<string, number>();
  const lanes: Lane[] = [];

  const startLane = (lane: Lane): void => {
    active++;
    // No TCP_NODELAY (one syscall less): each write here follows an answer, so Nagle never holds one back.
    const socket = connect({ host, port });
    lane.socket = socket;
    lane.startedAt = performance.now();
    let head: Buffer | null = null;
    let after: Buffer | null = null; // what followed the 101 head: the server's close frame
    let serverEnded = false;
    let failure: string | null = null;
    const fail = (reason: string): void => {
      failure ??= reason;
      socket.destroy();
    };
    // Queued until the connection is up: no 'connect' handler to run.
    socket.write(request);
    socket.on('data', (chunk: Buffer) => {
      if (after !== null) {
        after = after.length === 0 ? chunk : Buffer.concat([after, chunk]);
        return;
      }
      head = head === null ? chunk : Buffer.concat([head, chunk]);
      const end = head.indexOf(HEAD_END);
      if (end < 0) return;
      if (!isSwitchingProtocols(head)) return fail('upgrade refused');
      after = head.subarray(end + 4);
      socket.write(CLOSE_FRAME);
    });
    // The server's FIN. allowHalfOpen is off, so Node ends our side in answer and 'close' follows.
    socket.on('end', () => {
      serverEnded = true;
    });
    socket.on('error', (error: NodeJS.ErrnoException) => fail(`socket error ${error.code ?? error.message}`));
    socket.on('close', () => {
      if (failure === null) {
        if (after === null) failure = 'closed before the 101';
        else if (!serverEnded) failure = 'the server did not end TCP';
        else {
          const verdict = judgeCloseFrame(after);
          if (verdict !== 'ok') failure = verdict;
        }
      }
      if (failure === null) completed++;
      else {
        errors++;
        reasons.set(failure, (reasons.get(failure) ?? 0) + 1);
      }
      active--;
      lane.socket = null;
      if (running) startLane(lane);
    });
  };

  for (let i = 0; i < job.concurrency; i++) {
    const lane: Lane = { socket: null, startedAt: 0 };
    lanes.push(lane);
    startLane(lane);
  }
  const watchdog = setInterval(() => {
    const now = performance.now();
    for (const lane of lanes) {
      if (lane.socket !== null && now - lane.startedAt > STALL_MS) lane.socket.destroy(new Error('stalled'));
    }
  }, 500);

  await sleep(job.warmupMs);
  const window = new CpuWindow(job.target.pid);
  const completed0 = completed;
  const errors0 = errors;
  await sleep(job.durationMs);
  const stats = window.stop();
  const operations = completed - completed0;
  const windowErrors = errors - errors0;
  running = false;
  // Let the lanes finish their last connections, then drop whatever is left.
  for (let waited = 0; active > 0 && waited < 3_000; waited += 20) await sleep(20);
  for (const lane of lanes) lane.socket?.destroy();
  clearInterval(watchdog);

  const notes = operations === 0 ? ['no connection completed its life in the window'] : [];
  if (reasons.size > 0) notes.push(`errors: ${[...reasons].map(([why, n]) => `${why} x${n}`).join(', ')}`);
  return {
    ok: true,
    operations,
    payloadBytes: 0,
    window: stats,
    latency: null,
    idle: null,
    errors: windowErrors,
    notes,
  };
}

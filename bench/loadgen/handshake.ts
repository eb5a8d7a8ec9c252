/**
 * Handshakes per second: `concurrency` lanes, each in a loop of connect, upgrade (counted when the 101 arrives),
 * close handshake (a close frame, then waiting for the server to close the TCP connection, §7.1.1), next.
 * Waiting for the server's close keeps every server honest about finishing connections, not just accepting them.
 */
import { connect, type Socket } from 'node:net';
import type { HandshakeJob, JobSuccess } from '../lib/jobs.js';
import { CLOSE_FRAME, isSwitchingProtocols, upgradeRequest } from './frames.js';
import { CpuWindow, sleep } from './window.js';

const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');
// A lane whose connection makes no progress for this long is reset and the connection counted as an error.
const STALL_MS = 3_000;

export async function runHandshake(job: HandshakeJob): Promise<JobSuccess> {
  const { host, port } = job.target;
  const request = upgradeRequest(host, port);
  let running = true;
  let completed = 0;
  let errors = 0;
  let active = 0;
  const lanes: { socket: Socket | null; startedAt: number }[] = [];

  const startLane = (lane: { socket: Socket | null; startedAt: number }): void => {
    active++;
    // No TCP_NODELAY (one syscall less): each write here follows an answer, so Nagle never holds one back.
    const socket = connect({ host, port });
    lane.socket = socket;
    lane.startedAt = performance.now();
    let head: Buffer | null = null;
    let upgraded = false;
    let failed = false;
    const fail = (): void => {
      if (!failed) {
        failed = true;
        errors++;
      }
      socket.destroy();
    };
    // Queued until the connection is up: no 'connect' handler to run.
    socket.write(request);
    socket.on('data', (chunk: Buffer) => {
      if (upgraded) return; // the server's close frame; its FIN follows
      head = head === null ? chunk : Buffer.concat([head, chunk]);
      if (head.indexOf(HEAD_END) < 0) return;
      if (!isSwitchingProtocols(head)) {
        fail();
        return;
      }
      upgraded = true;
      completed++;
      socket.write(CLOSE_FRAME);
    });
    socket.on('error', fail);
    socket.on('close', () => {
      if (!upgraded && !failed) {
        failed = true;
        errors++;
      }
      active--;
      lane.socket = null;
      if (running) startLane(lane);
    });
  };

  for (let i = 0; i < job.concurrency; i++) {
    const lane = { socket: null, startedAt: 0 };
    lanes.push(lane);
    startLane(lane);
  }
  const watchdog = setInterval(() => {
    const now = performance.now();
    for (const lane of lanes) {
      if (lane.socket !== null && now - lane.startedAt > STALL_MS) {
        errors++;
        lane.socket.destroy();
      }
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
  // Let the lanes finish their last close handshakes, then drop whatever is left.
  for (let waited = 0; active > 0 && waited < 3_000; waited += 20) await sleep(20);
  for (const lane of lanes) lane.socket?.destroy();
  clearInterval(watchdog);

  return {
    ok: true,
    operations,
    payloadBytes: 0,
    window: stats,
    latency: null,
    idle: null,
    errors: windowErrors,
    notes: operations === 0 ? ['no handshake completed in the window'] : [],
  };
}

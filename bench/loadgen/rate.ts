/**
 * Open-loop echo at a fixed offered rate, for latency under a load every server can carry. Messages go out on a
 * 1 ms tick, spread round-robin over the connections, whether or not earlier replies have come back, so a slow
 * reply does not hold back later sends (closed-loop latency would hide exactly the stalls this looks for). Each
 * round trip is timed from the write of its frame to the chunk that completes its echo.
 */
import type { JobSuccess, RateJob } from '../lib/jobs.js';
import { LatencyHistogram } from '../lib/stats.js';
import { closeAll, openMany } from './connect.js';
import { buildClientFrame, OP_BINARY, payloadOf, ReplyReader, repeatFrame } from './frames.js';
import { CpuWindow, sleep } from './window.js';

// Past this many unanswered messages on one connection the server is not keeping up; stop queueing on it.
const MAX_OUTSTANDING = 4096;
const MAX_BURST = 64;

/** FIFO of send times for one connection. */
class SendTimes {
  #times = new Float64Array(64);
  #head = 0;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  push(t: number, count: number): void {
    if (this.#size + count > this.#times.length) this.#grow(this.#size + count);
    const capacity = this.#times.length;
    for (let j = 0; j < count; j++) this.#times[(this.#head + this.#size + j) % capacity] = t;
    this.#size += count;
  }

  shift(): number {
    const t = this.#times[this.#head]!;
    this.#head = (this.#head + 1) % this.#times.length;
    this.#size--;
    return t;
  }

  #grow(needed: number): void {
    let capacity = this.#times.length * 2;
    while (capacity < needed) capacity *= 2;
    const next = new Float64Array(capacity);
    for (let j = 0; j < this.#size; j++) next[j] = this.#times[(this.#head + j) % this.#times.length]!;
    this.#times = next;
    this.#head = 0;
  }
}

export async function runRate(job: RateJob): Promise<JobSuccess> {
  const frame = buildClientFrame(OP_BINARY, payloadOf(job.payloadBytes));
  const burst = repeatFrame(frame, MAX_BURST);
  const bursts = Array.from({ length: MAX_BURST + 1 }, (_, k) => burst.subarray(0, k * frame.length));
  // Over TCP, replies are read into the load generator's one shared buffer (connect.ts): less work per read.
  const sharedReads = job.target.transport === 'tcp';
  const connections = await openMany(job.target, job.connections, 50, false, '/', sharedReads);

  const histogram = new LatencyHistogram();
  let measuring = false;
  let replies = 0;
  let errors = 0;
  let skipped = 0;
  const readers: ReplyReader[] = [];
  const queues: SendTimes[] = [];

  for (const connection of connections) {
    const { socket } = connection;
    const reader = new ReplyReader(job.payloadBytes);
    const queue = new SendTimes();
    readers.push(reader);
    queues.push(queue);
    const onBytes = (chunk: Buffer): void => {
      const count = reader.feed(chunk);
      if (count === 0) return;
      const now = performance.now();
      for (let j = 0; j < count && queue.size > 0; j++) {
        const sent = queue.shift();
        if (measuring) histogram.record((now - sent) * 1000);
      }
      if (measuring) replies += count;
    };
    if (sharedReads) connection.onBytes = onBytes;
    else socket.on('data', onBytes);
    socket.on('error', () => {
      errors++;
    });
  }

  // The sender: on every tick, send what the schedule says is due by now.
  const perConnection = new Int32Array(connections.length);
  const start = performance.now();
  let sent = 0;
  let cursor = 0;
  let ticking = true;
  const tick = (): void => {
    if (!ticking) return;
    const now = performance.now();
    const due = Math.floor(((now - start) * job.ratePerSecond) / 1000) - sent;
    if (due > 0) {
      for (let j = 0; j < due; j++) {
        perConnection[cursor]!++;
        cursor = cursor + 1 === connections.length ? 0 : cursor + 1;
      }
      sent += due;
      for (let c = 0; c < connections.length; c++) {
        let count = perConnection[c]!;
        if (count === 0) continue;
        perConnection[c] = 0;
        const queue = queues[c]!;
        if (queue.size + count > MAX_OUTSTANDING) {
          skipped += count;
          continue;
        }
        queue.push(now, count);
        const socket = connections[c]!.socket;
        while (count > 0) {
          const k = Math.min(count, MAX_BURST);
          socket.write(bursts[k]!);
          count -= k;
        }
      }
    }
    setTimeout(tick, 1);
  };
  tick();

  await sleep(job.warmupMs);
  const window = new CpuWindow(job.target.pid);
  const sent0 = sent;
  const skipped0 = skipped;
  const bytes0 = readers.reduce((sum, r) => sum + r.payloadBytes, 0);
  histogram.reset();
  measuring = true;
  await sleep(job.durationMs);
  measuring = false;
  const stats = window.stop();
  const offered = sent - sent0;
  const skippedInWindow = skipped - skipped0;
  const bytes1 = readers.reduce((sum, r) => sum + r.payloadBytes, 0);
  ticking = false;
  await closeAll(connections);

  for (const r of readers) errors += r.errors;
  const notes: string[] = [];
  if (skippedInWindow > 0 || replies < offered * 0.97) {
    notes.push(`offered rate not sustained: ${replies} replies to ${offered} offered (${skippedInWindow} not sent)`);
  }
  return {
    ok: true,
    operations: replies,
    payloadBytes: bytes1 - bytes0,
    window: stats,
    latency: histogram.summary(),
    idle: null,
    errors,
    notes,
  };
}

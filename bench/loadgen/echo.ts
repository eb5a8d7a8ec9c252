/**
 * Closed-loop echo throughput: each connection keeps `inFlight` messages outstanding; every reply that comes back
 * is answered with a new message, so the server never waits for the client. All the messages a chunk completes
 * are answered with one write of a pre-built run of frames, and each message's round trip is timed from the moment
 * its frame was written.
 */
import type { EchoJob, JobSuccess } from '../lib/jobs.js';
import { LatencyHistogram } from '../lib/stats.js';
import { closeAll, openMany } from './connect.js';
import {
  buildClientFrame,
  buildCompressedClientFrame,
  OP_BINARY,
  OP_TEXT,
  payloadOf,
  ReplyReader,
  repeatFrame,
  textPayloadOf,
} from './frames.js';
import { CpuWindow, sleep } from './window.js';

export async function runEcho(job: EchoJob): Promise<JobSuccess> {
  // Compressed scenarios send JSON-like text in a few variants (compressed frames differ in size), else one frame.
  const frames = job.deflate
    ? Array.from({ length: job.inFlight }, (_, i) =>
        buildCompressedClientFrame(OP_TEXT, textPayloadOf(job.payloadBytes, (i % 8) + 1)),
      )
    : null;
  const frame = buildClientFrame(OP_BINARY, payloadOf(job.payloadBytes));
  const burst = frames === null ? repeatFrame(frame, job.inFlight) : Buffer.concat(frames);
  // bursts[k] = k frames back to back, as views of one buffer: answering k replies allocates nothing.
  let offset = 0;
  const ends = [0, ...(frames ?? Array.from({ length: job.inFlight }, () => frame)).map((f) => (offset += f.length))];
  const bursts = Array.from({ length: job.inFlight + 1 }, (_, k) => burst.subarray(0, ends[k]));
  // Over TCP, replies are read into the load generator's one shared buffer (connect.ts): less work per read.
  const sharedReads = job.target.transport === 'tcp';
  const connections = await openMany(job.target, job.connections, 50, job.deflate === true, '/', sharedReads);

  const histogram = new LatencyHistogram();
  let sending = true;
  let measuring = false;
  let replies = 0;
  let errors = 0;
  const readers: ReplyReader[] = [];

  for (const connection of connections) {
    const { socket, leftover } = connection;
    // Compressed replies have no fixed size on the wire: only count them.
    const reader = new ReplyReader(job.deflate ? 0 : job.payloadBytes);
    readers.push(reader);
    // Send times of the outstanding messages, oldest first (the server answers in order). While sending, every
    // reply frees a slot that the next message takes, so the ring is simply rotated.
    const sentAt = new Float64Array(job.inFlight);
    let head = 0;
    const onReplies = (count: number): void => {
      const now = performance.now();
      if (measuring) {
        for (let j = 0; j < count; j++) {
          histogram.record((now - sentAt[head]!) * 1000);
          sentAt[head] = now;
          head = head + 1 === sentAt.length ? 0 : head + 1;
        }
        replies += count;
      } else {
        for (let j = 0; j < count; j++) {
          sentAt[head] = now;
          head = head + 1 === sentAt.length ? 0 : head + 1;
        }
      }
      if (sending) socket.write(bursts[count]!);
    };
    const onBytes = (chunk: Buffer): void => {
      const count = reader.feed(chunk);
      if (count > 0) onReplies(count);
    };
    if (sharedReads) connection.onBytes = onBytes;
    else socket.on('data', onBytes);
    socket.on('error', () => {
      errors++;
    });
    socket.on('close', () => {
      if (sending) errors++;
    });
    sentAt.fill(performance.now());
    socket.write(burst);
    if (leftover.length > 0) {
      const count = reader.feed(leftover);
      if (count > 0) onReplies(count);
    }
  }

  await sleep(job.warmupMs);
  const window = new CpuWindow(job.target.pid);
  const bytes0 = readers.reduce((sum, r) => sum + r.payloadBytes, 0);
  histogram.reset();
  measuring = true;
  await sleep(job.durationMs);
  measuring = false;
  const stats = window.stop();
  const bytes1 = readers.reduce((sum, r) => sum + r.payloadBytes, 0);
  sending = false;
  await closeAll(connections);

  for (const r of readers) errors += r.errors;
  const notes: string[] = [];
  if (replies === 0) notes.push('no replies in the window');
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

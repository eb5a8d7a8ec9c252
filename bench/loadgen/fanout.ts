/**
 * Pub/sub delivery (FanoutJob): many subscribed clients, some of which publish. Each message is a binary frame
 * whose payload starts with its sequence number (u32), its publisher (u16) and its send time (f64, ms); the rest
 * is padding. Subscribers only count frames, reading headers and skipping payloads; witnesses (a sample of the
 * clients) also read the first 14 payload bytes, to pace the publishers and time the deliveries.
 */
import type { Duplex } from 'node:stream';
import type { FanoutJob, JobSuccess } from '../lib/jobs.js';
import { LatencyHistogram } from '../lib/stats.js';
import { closeAll, openMany, type OpenConnection } from './connect.js';
import { CpuWindow, sleep } from './window.js';

const PREFIX = 14;

/** Counts data frames in a server-to-client stream; for a witness, hands each frame's first bytes to `onFrame`. */
class DeliveryReader {
  frames = 0;
  readonly #head = Buffer.alloc(10);
  #headLength = 0;
  #opcode = 0;
  #skip = 0;
  readonly #prefix: Buffer | null;
  #prefixLength = 0;
  #prefixWanted = 0;
  readonly #onFrame: ((prefix: Buffer) => void) | null;

  constructor(onFrame: ((prefix: Buffer) => void) | null) {
    this.#onFrame = onFrame;
    this.#prefix = onFrame === null ? null : Buffer.alloc(PREFIX);
  }

  feed(chunk: Buffer): void {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.#skip > 0) {
        const take = Math.min(this.#skip, n - i);
        if (this.#prefix !== null && this.#prefixLength < this.#prefixWanted) {
          const copy = Math.min(take, this.#prefixWanted - this.#prefixLength);
          chunk.copy(this.#prefix, this.#prefixLength, i, i + copy);
          this.#prefixLength += copy;
        }
        i += take;
        this.#skip -= take;
        if (this.#skip === 0) this.#complete();
        continue;
      }
      // Header: 2 bytes, then 2 or 8 more for the length (server frames are not masked).
      this.#head[this.#headLength++] = chunk[i++]!;
      if (this.#headLength < 2) continue;
      const len7 = this.#head[1]! & 0x7f;
      const size = len7 === 126 ? 4 : len7 === 127 ? 10 : 2;
      if (this.#headLength < size) continue;
      this.#opcode = this.#head[0]! & 0x0f;
      const length =
        len7 === 126 ? this.#head.readUInt16BE(2) : len7 === 127 ? Number(this.#head.readBigUInt64BE(2)) : len7;
      this.#headLength = 0;
      this.#prefixLength = 0;
      this.#prefixWanted = Math.min(PREFIX, length);
      this.#skip = length;
      if (length === 0) this.#complete();
    }
  }

  #complete(): void {
    if (this.#opcode !== 1 && this.#opcode !== 2) return;
    this.frames++;
    if (this.#onFrame !== null && this.#prefixLength === PREFIX) this.#onFrame(this.#prefix!);
  }
}

/** A client frame (masked with a zero key, so the payload goes as is) of `size` bytes. */
function messageFrame(size: number, seq: number, publisher: number): Buffer {
  const header = size < 126 ? 6 : 8;
  const frame = Buffer.alloc(header + size);
  frame[0] = 0x82;
  if (size < 126) frame[1] = 0x80 | size;
  else {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(size, 2);
  }
  // Masking key: the 4 bytes before the payload, left zero.
  frame.writeUInt32BE(seq, header);
  frame.writeUInt16BE(publisher, header + 4);
  frame.writeDoubleBE(performance.now(), header + 6);
  return frame;
}

export async function runFanout(job: FanoutJob): Promise<JobSuccess> {
  if (job.payloadBytes < PREFIX || job.payloadBytes > 65_535) throw new Error('payloadBytes must be 14..65535');
  // Clients go to the targets in turn; the publishers (the first ones) to the first target.
  const perTarget = job.targets.map(() => 0);
  for (let i = job.publishers; i < job.clients; i++) perTarget[i % job.targets.length]!++;
  perTarget[0]! += job.publishers;
  const connections: OpenConnection[] = [];
  for (let t = 0; t < job.targets.length; t++) {
    connections.push(...(await openMany(job.targets[t]!, perTarget[t]!, 50, false, job.path)));
  }
  // The publishers are the first connections (all on the first target).
  const clients = connections.length;

  // Witnesses of each publisher: in a room the next client; in a fan-out a sample spread over the clients (the last
  // one included: servers write to subscribers in the order they joined).
  const witnessesOf: number[][] = [];
  for (let p = 0; p < job.publishers; p++) {
    if (job.publishers > 1) witnessesOf.push([(p + 1) % clients]);
    else {
      const sample = new Set<number>([clients - 1]);
      for (let k = 1; k <= 16; k++) sample.add(Math.min(clients - 1, Math.max(1, Math.floor((k * clients) / 17))));
      witnessesOf.push([...sample]);
    }
  }
  const isWitness = new Map<number, Array<{ publisher: number; slot: number }>>();
  witnessesOf.forEach((list, p) =>
    list.forEach((w, slot) => (isWitness.get(w) ?? isWitness.set(w, []).get(w)!).push({ publisher: p, slot })),
  );
  const seen = witnessesOf.map((list) => new Float64Array(list.length).fill(-1));
  const sent = new Float64Array(job.publishers);
  const histogram = new LatencyHistogram();
  let measuring = false;
  let sending = true;
  let errors = 0;

  const sockets: Duplex[] = connections.map((c) => c.socket);
  const publish = (p: number, count: number): void => {
    if (!sending || count <= 0) return;
    const frames: Buffer[] = [];
    for (let k = 0; k < count; k++) frames.push(messageFrame(job.payloadBytes, sent[p]!++, p));
    sockets[p]!.write(frames.length === 1 ? frames[0]! : Buffer.concat(frames));
  };
  const refill = (p: number): void => {
    const marks = seen[p]!;
    let slowest = Infinity;
    for (let i = 0; i < marks.length; i++) if (marks[i]! < slowest) slowest = marks[i]!;
    publish(p, job.window - (sent[p]! - 1 - slowest));
  };

  const readers = connections.map(({ socket, leftover }, index) => {
    const roles = isWitness.get(index) ?? null;
    const reader = new DeliveryReader(
      roles === null
        ? null
        : (prefix) => {
            const seq = prefix.readUInt32BE(0);
            const publisher = prefix.readUInt16BE(4);
            if (measuring) histogram.record((performance.now() - prefix.readDoubleBE(6)) * 1000);
            for (const role of roles) {
              if (role.publisher !== publisher) continue;
              const marks = seen[publisher]!;
              if (seq > marks[role.slot]!) marks[role.slot] = seq;
              if (job.ratePerSecond === undefined) refill(publisher);
            }
          },
    );
    socket.on('data', (chunk: Buffer) => reader.feed(chunk));
    socket.on('error', () => errors++);
    socket.on('close', () => {
      if (sending) errors++;
    });
    if (leftover.length > 0) reader.feed(leftover);
    return reader;
  });

  // Let the servers subscribe every client (with Redis, each relay subscribes its channel).
  await sleep(500);
  let timer: NodeJS.Timeout | null = null;
  if (job.ratePerSecond === undefined) {
    for (let p = 0; p < job.publishers; p++) publish(p, job.window);
  } else {
    const start = performance.now();
    const rate = job.ratePerSecond;
    timer = setInterval(() => publish(0, Math.floor(((performance.now() - start) * rate) / 1000) - sent[0]!), 1);
  }
  await sleep(job.warmupMs);
  const window = new CpuWindow(job.target.pid, job.extraPids);
  const delivered0 = readers.reduce((sum, r) => sum + r.frames, 0);
  const sent0 = sent.reduce((a, b) => a + b, 0);
  histogram.reset();
  measuring = true;
  await sleep(job.durationMs);
  measuring = false;
  const stats = window.stop();
  const delivered = readers.reduce((sum, r) => sum + r.frames, 0) - delivered0;
  const published = sent.reduce((a, b) => a + b, 0) - sent0;
  sending = false;
  if (timer !== null) clearInterval(timer);
  await closeAll(connections);
  const notes: string[] = [];
  // Every message should reach every other client: fewer means the server dropped some (or lagged at the end).
  const expected = published * (clients - 1);
  if (expected > 0 && delivered < expected * 0.95)
    notes.push(`delivered ${Math.round((100 * delivered) / expected)}% of published x subscribers`);
  if (job.ratePerSecond !== undefined && published < ((job.ratePerSecond * job.durationMs) / 1000) * 0.95)
    notes.push('offered rate not sustained');
  return {
    ok: true,
    operations: delivered,
    payloadBytes: delivered * job.payloadBytes,
    window: stats,
    latency: histogram.summary(),
    idle: null,
    errors,
    notes,
  };
}

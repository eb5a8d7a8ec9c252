/**
 * Micro-benchmark harness: a plain hrtime loop. Each implementation is calibrated to ~`sampleMs` per sample,
 * warmed up for a few samples, then sampled N times; the median ops/s is reported, with the spread. An entry
 * whose setup or first call throws `not wired yet` is skipped and reported as such.
 */
import { createHash } from 'node:crypto';
import { halfIqr, median } from '../lib/stats.js';

/** One prepared implementation of a case. */
export interface Bench {
  /** One operation. Its return value is folded into a sink so the work cannot be optimised away. */
  run(): number;
  /** The result of the operation on the case's fixed input, compared across implementations (optional). */
  output?(): unknown;
}

export interface Variant {
  impl: string;
  /** Prepares the bench; may throw (e.g. `not wired yet`). */
  make(): Bench;
}

export interface MicroCase {
  group: 'mask' | 'parse' | 'encode' | 'utf8';
  name: string;
  /** Input bytes one operation handles, for MB/s. */
  bytesPerOp: number;
  variants: Variant[];
}

export interface MicroResult {
  group: string;
  name: string;
  impl: string;
  status: 'ok' | 'not wired' | 'error' | 'mismatch';
  detail: string;
  opsPerSec: number | null;
  megabytesPerSec: number | null;
  /** Half the interquartile range of the samples over the median. */
  spread: number;
  /** ops/s relative to the first `ws` variant of the same case. */
  vsWs: number | null;
}

export interface MicroOptions {
  sampleMs: number;
  warmupSamples: number;
  samples: number;
}

let sink = 0;

const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function timeLoop(bench: Bench, iterations: number): number {
  const t0 = process.hrtime.bigint();
  let acc = 0;
  for (let i = 0; i < iterations; i++) acc += bench.run();
  const elapsed = Number(process.hrtime.bigint() - t0);
  sink ^= acc | 0;
  return elapsed; // nanoseconds
}

/** Iterations that make one sample last about `sampleMs`. */
function calibrate(bench: Bench, sampleMs: number): number {
  // Double the iteration count until one loop takes at least a fifth of a sample, then scale.
  let iterations = 1;
  let elapsed = timeLoop(bench, iterations);
  while (elapsed < (sampleMs * 1e6) / 5 && iterations < 1 << 30) {
    iterations *= 2;
    elapsed = timeLoop(bench, iterations);
  }
  return Math.max(1, Math.round((iterations * sampleMs * 1e6) / Math.max(elapsed, 1)));
}

/** A stable fingerprint of an output: bytes (or lists of byte arrays) are hashed, anything else stringified. */
function fingerprint(value: unknown): string {
  const parts: Uint8Array[] | null =
    value instanceof Uint8Array
      ? [value]
      : Array.isArray(value) && value.every((v) => v instanceof Uint8Array)
        ? (value as Uint8Array[])
        : null;
  if (parts === null) return JSON.stringify(value);
  const hash = createHash('sha1');
  let length = 0;
  for (const p of parts) {
    hash.update(p);
    length += p.length;
  }
  return `${length}:${hash.digest('hex')}`;
}

function isNotWired(error: unknown): boolean {
  return error instanceof Error && error.message === 'not wired yet';
}

/**
 * Runs every variant of a case. Samples are interleaved (ws, nopoll, ws, nopoll, ... with the starting variant
 * rotating), so a change in machine load during the case hits every implementation alike.
 */
export async function runCase(c: MicroCase, options: MicroOptions): Promise<MicroResult[]> {
  const results: MicroResult[] = [];
  const live: { result: MicroResult; bench: Bench; perSample: number; rates: number[] }[] = [];
  let reference: string | null = null;
  for (const variant of c.variants) {
    const result: MicroResult = {
      group: c.group,
      name: c.name,
      impl: variant.impl,
      status: 'ok',
      detail: '',
      opsPerSec: null,
      megabytesPerSec: null,
      spread: 0,
      vsWs: null,
    };
    results.push(result);
    let bench: Bench;
    let output: string | null = null;
    try {
      bench = variant.make();
      if (bench.output !== undefined) output = fingerprint(bench.output());
      bench.run();
    } catch (error) {
      result.status = isNotWired(error) ? 'not wired' : 'error';
      result.detail = isNotWired(error) ? '' : error instanceof Error ? error.message : String(error);
      continue;
    }
    if (output !== null && reference === null && variant.impl.startsWith('ws')) reference = output;
    else if (output !== null && reference !== null && output !== reference) {
      result.status = 'mismatch';
      result.detail = 'output differs from ws';
    }
    live.push({ result, bench, perSample: 0, rates: [] });
  }
  for (const v of live) v.perSample = calibrate(v.bench, options.sampleMs);
  for (let i = 0; i < options.warmupSamples; i++) {
    for (const v of live) timeLoop(v.bench, v.perSample);
    await yieldToLoop();
  }
  for (let i = 0; i < options.samples; i++) {
    for (let j = 0; j < live.length; j++) {
      const v = live[(i + j) % live.length]!;
      v.rates.push((v.perSample * 1e9) / Math.max(timeLoop(v.bench, v.perSample), 1));
    }
    await yieldToLoop(); // lets stream callbacks (ws's Receiver) and timers run between samples
  }
  let wsOps: number | null = null;
  for (const v of live) {
    v.result.opsPerSec = median(v.rates);
    v.result.megabytesPerSec = (v.result.opsPerSec * c.bytesPerOp) / 1e6;
    v.result.spread = halfIqr(v.rates);
    if (wsOps === null && v.result.impl.startsWith('ws')) wsOps = v.result.opsPerSec;
    v.result.vsWs = wsOps === null ? null : v.result.opsPerSec / wsOps;
  }
  return results;
}

/** Keeps the optimiser honest: the sink is observable. */
export function sinkValue(): number {
  return sink;
}

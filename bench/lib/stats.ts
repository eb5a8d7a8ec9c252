/** Small statistics helpers: medians, spread, and a constant-time latency histogram. */
import type { LatencySummary } from './jobs.js';

/** Median of a non-empty list (mean of the two middle values for even lengths); NaN for an empty one. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Half the range as a fraction of the median: 0.05 means the rounds were within about ±5 % of each other. */
export function halfRange(values: readonly number[]): number {
  if (values.length < 2) return 0;
  const m = median(values);
  if (!Number.isFinite(m) || m === 0) return 0;
  return (Math.max(...values) - Math.min(...values)) / 2 / Math.abs(m);
}

/** Half the interquartile range as a fraction of the median: like halfRange, but one GC-hit sample cannot move it. */
export function halfIqr(values: readonly number[]): number {
  if (values.length < 4) return halfRange(values);
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number): number => {
    const pos = q * (sorted.length - 1);
    const lo = Math.floor(pos);
    const hi = Math.ceil(pos);
    return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
  };
  const m = median(values);
  return m === 0 ? 0 : (at(0.75) - at(0.25)) / 2 / Math.abs(m);
}

// Log-linear buckets over tenths of a microsecond (a loopback round trip is about 10 µs: whole microseconds would
// round it by 5 %): exact below 204.8 µs, then 1024 buckets per power of two (about 0.1 % relative error), up to
// 2^31 units (214 s). Recording is O(1) and allocation-free, so the load generator can time every message without
// sorting millions of samples afterwards.
const UNITS_PER_MICRO = 10;
const LINEAR = 2048;
const SUB_BUCKETS = 1024;
const SUB_BITS = 10;
const MAX_VALUE = 0x7fffffff;
const BUCKETS = LINEAR + (31 - 11) * SUB_BUCKETS;

function bucketOf(units: number): number {
  const v = units <= 0 ? 0 : units >= MAX_VALUE ? MAX_VALUE : Math.round(units);
  if (v < LINEAR) return v;
  const exponent = 31 - Math.clz32(v); // 11..30
  const mantissa = v >>> (exponent - SUB_BITS); // 1024..2047
  return LINEAR + (exponent - 11) * SUB_BUCKETS + (mantissa - SUB_BUCKETS);
}

function valueOf(bucket: number): number {
  if (bucket < LINEAR) return bucket;
  const k = bucket - LINEAR;
  const exponent = 11 + Math.floor(k / SUB_BUCKETS);
  const width = 2 ** (exponent - SUB_BITS);
  return (SUB_BUCKETS + (k % SUB_BUCKETS)) * width + width / 2;
}

/** Counts latencies (in microseconds) into fixed buckets; percentiles come out with ~0.1 % error. */
export class LatencyHistogram {
  readonly #counts = new Float64Array(BUCKETS);
  #total = 0;
  #max = 0;

  get count(): number {
    return this.#total;
  }

  get maxMicros(): number {
    return this.#max;
  }

  record(micros: number): void {
    this.#counts[bucketOf(micros * UNITS_PER_MICRO)]!++;
    this.#total++;
    if (micros > this.#max) this.#max = micros;
  }

  reset(): void {
    this.#counts.fill(0);
    this.#total = 0;
    this.#max = 0;
  }

  /** The value below which a fraction `p` (0..1) of the samples fall; NaN when empty. */
  percentile(p: number): number {
    if (this.#total === 0) return NaN;
    const rank = Math.max(1, Math.ceil(p * this.#total));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.#counts[i]!;
      if (seen >= rank) return Math.min(valueOf(i) / UNITS_PER_MICRO, this.#max);
    }
    return this.#max;
  }

  /** Count, p50, p99, p99.9 and maximum, as the load generator reports them. */
  summary(): LatencySummary {
    return {
      count: this.#total,
      p50Micros: this.percentile(0.5),
      p99Micros: this.percentile(0.99),
      p999Micros: this.percentile(0.999),
      maxMicros: this.#max,
    };
  }
}

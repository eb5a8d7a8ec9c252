/**
 * The measurement window: CPU counters of the server, of this load generator and of the whole machine are read at
 * its two ends, in this process, so all three cover exactly the same interval.
 */
import type { WindowStats } from '../lib/jobs.js';
import {
  allProcessTicks,
  describeProcess,
  machineCpu,
  processCpuTicks,
  ticksToMicros,
  type MachineCpu,
} from '../lib/procfs.js';

/** Starts measuring at construction; {@link CpuWindow.stop} returns the totals. */
export class CpuWindow {
  readonly #serverPid: number;
  readonly #extraPids: readonly number[];
  readonly #extra0: Array<number | null>;
  readonly #t0 = performance.now();
  readonly #self0 = process.cpuUsage();
  readonly #server0: number | null;
  readonly #selfTicks0: number | null;
  readonly #parentTicks0: number | null;
  readonly #machine0: MachineCpu | null;
  readonly #all0: Map<number, { name: string; ticks: number }>;

  /** `extraPids`: more server processes (a second relay, Redis) whose CPU is counted as the server's. */
  constructor(serverPid: number, extraPids: readonly number[] = []) {
    this.#serverPid = serverPid;
    this.#extraPids = extraPids;
    this.#extra0 = extraPids.map((pid) => processCpuTicks(pid));
    this.#server0 = processCpuTicks(serverPid);
    this.#selfTicks0 = processCpuTicks(process.pid);
    this.#parentTicks0 = processCpuTicks(process.ppid);
    this.#machine0 = machineCpu();
    this.#all0 = allProcessTicks();
  }

  stop(): WindowStats {
    const server1 = processCpuTicks(this.#serverPid);
    const extra = this.#extraPids.reduce(
      (sum, pid, i) => sum + ((processCpuTicks(pid) ?? 0) - (this.#extra0[i] ?? 0)),
      0,
    );
    const selfTicks1 = processCpuTicks(process.pid);
    const parentTicks1 = processCpuTicks(process.ppid);
    const machine1 = machineCpu();
    const self = process.cpuUsage(this.#self0);
    const wallMs = performance.now() - this.#t0;
    const all1 = allProcessTicks(); // the slow scan, after the window's end is taken
    const serverTicks = this.#server0 !== null && server1 !== null ? server1 - this.#server0 + extra : null;
    let otherCores: number | null = null;
    let stealFraction: number | null = null;
    if (this.#machine0 !== null && machine1 !== null && serverTicks !== null) {
      // Busy time of the machine minus what the three benchmark processes (server, load generator, orchestrator)
      // account for. Loopback networking done in softirq context is not in `busy`, so it does not count as other.
      const delta = (a: number | null, b: number | null): number => (a !== null && b !== null ? b - a : 0);
      const ours = serverTicks + delta(this.#selfTicks0, selfTicks1) + delta(this.#parentTicks0, parentTicks1);
      const other = Math.max(0, machine1.busy - this.#machine0.busy - ours);
      otherCores = ticksToMicros(other) / 1000 / wallMs;
      const total = machine1.total - this.#machine0.total;
      stealFraction = total > 0 ? (machine1.steal - this.#machine0.steal) / total : 0;
    }
    // Who else ran: per-process deltas, the benchmark's own three processes left out.
    const ours = new Set([this.#serverPid, ...this.#extraPids, process.pid, process.ppid]);
    const otherTop: { name: string; cores: number }[] = [];
    for (const [pid, after] of all1) {
      if (ours.has(pid)) continue;
      const ticks = after.ticks - (this.#all0.get(pid)?.ticks ?? 0);
      const cores = ticksToMicros(ticks) / 1000 / wallMs;
      if (cores >= 0.05) otherTop.push({ name: `${pid}`, cores });
    }
    otherTop.sort((a, b) => b.cores - a.cores);
    otherTop.length = Math.min(otherTop.length, 3);
    for (const p of otherTop) p.name = describeProcess(Number(p.name), all1.get(Number(p.name))?.name ?? '?');
    return {
      wallMs,
      otherTop,
      serverCpuMicros: serverTicks === null ? null : ticksToMicros(serverTicks),
      loadgenCpuMicros: self.user + self.system,
      otherCores,
      stealFraction,
    };
  }
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

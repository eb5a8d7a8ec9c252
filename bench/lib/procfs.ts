/**
 * Readings from Linux's /proc: CPU time and resident memory of another process, machine-wide CPU counters, the
 * open-file limit. Every reader returns null (or a neutral value) when /proc is not there, so the harness still
 * runs elsewhere and simply leaves those columns empty.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';

// USER_HZ, the unit of the tick counters in /proc/PID/stat and /proc/stat. The kernel exposes 100 to user space on
// every mainstream architecture regardless of its internal HZ (`getconf CLK_TCK` prints it).
const TICKS_PER_SECOND = 100;
const MICROS_PER_TICK = 1e6 / TICKS_PER_SECOND;

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return null;
  }
}

/** User + system CPU time of a process, all its threads together, in clock ticks; null when it is gone. */
export function processCpuTicks(pid: number): number | null {
  const text = readText(`/proc/${pid}/stat`);
  if (text === null) return null;
  // Field 2 (the command) is parenthesised and may itself contain spaces or ')': count fields from the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state), so utime (field 14) and stime (field 15) are at 11 and 12.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return Number.isFinite(utime) && Number.isFinite(stime) ? utime + stime : null;
}

/** Same as {@link processCpuTicks}, in microseconds (10 ms resolution). */
export function processCpuMicros(pid: number): number | null {
  const ticks = processCpuTicks(pid);
  return ticks === null ? null : ticks * MICROS_PER_TICK;
}

/** Resident set size of a process in bytes (VmRSS), null when it is gone or /proc is missing. */
export function processRssBytes(pid: number): number | null {
  const text = readText(`/proc/${pid}/status`);
  if (text === null) return null;
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(text);
  return match === null ? null : Number(match[1]) * 1024;
}

/** Machine-wide CPU counters (all cores summed), in clock ticks. */
export interface MachineCpu {
  /** user + nice + system: time spent running any process (interrupt and softirq time excluded). */
  busy: number;
  /** Time the hypervisor gave this VM's CPUs to someone else. */
  steal: number;
  /** Everything, idle included. */
  total: number;
}

/** Reads the aggregate `cpu` line of /proc/stat; null without /proc. */
export function machineCpu(): MachineCpu | null {
  const text = readText('/proc/stat');
  if (text === null) return null;
  const line = text.slice(0, text.indexOf('\n')).split(/\s+/);
  // cpu user nice system idle iowait irq softirq steal guest guest_nice (guest time is already inside user).
  const value = (i: number): number => Number(line[i] ?? 0);
  let total = 0;
  for (let i = 1; i <= 8; i++) total += value(i);
  return { busy: value(1) + value(2) + value(3), steal: value(8), total };
}

/** CPU ticks and command name of every process, to find out who else used the CPU during a window. */
export function allProcessTicks(): Map<number, { name: string; ticks: number }> {
  const out = new Map<number, { name: string; ticks: number }>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const entry of entries) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const text = readText(`/proc/${pid}/stat`);
    if (text === null) continue;
    const open = text.indexOf('(');
    const close = text.lastIndexOf(')');
    const fields = text.slice(close + 2).split(' ');
    out.set(pid, { name: text.slice(open + 1, close), ticks: Number(fields[11]) + Number(fields[12]) });
  }
  return out;
}

/** A short description of a process: its command line (first 60 characters), or its name if that is gone. */
export function describeProcess(pid: number, fallback: string): string {
  const cmdline = readText(`/proc/${pid}/cmdline`);
  if (cmdline === null || cmdline === '') return `${fallback}[${pid}]`;
  const text = cmdline
    .split('\0')
    .filter((s) => s !== '')
    .join(' ');
  return `[${pid}] ${text.length > 60 ? `${text.slice(0, 57)}...` : text}`;
}

/** Converts clock ticks to microseconds. */
export function ticksToMicros(ticks: number): number {
  return ticks * MICROS_PER_TICK;
}

/**
 * CPU used by all processes except `exclude` over the next `ms` milliseconds, in cores, with the biggest users;
 * null without /proc.
 */
export async function sampleOtherLoad(
  ms: number,
  exclude: ReadonlySet<number>,
): Promise<{ cores: number; top: { name: string; cores: number }[] } | null> {
  // The machine counters are read right next to the clock; the slower per-process scan comes after the first
  // reading and before the second, inside the measured interval.
  const t0 = performance.now();
  const m0 = machineCpu();
  const p0 = allProcessTicks();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const p1 = allProcessTicks();
  const m1 = machineCpu();
  const wallMs = performance.now() - t0;
  if (m0 === null || m1 === null) return null;
  let ours = 0;
  const top: { name: string; cores: number }[] = [];
  for (const [pid, after] of p1) {
    const ticks = after.ticks - (p0.get(pid)?.ticks ?? 0); // a process that started meanwhile counts in full
    if (exclude.has(pid)) ours += ticks;
    else if (ticks > 0) top.push({ name: `${pid}`, cores: (ticks * MICROS_PER_TICK) / 1000 / wallMs });
  }
  top.sort((a, b) => b.cores - a.cores);
  top.length = Math.min(top.length, 3);
  for (const p of top) p.name = describeProcess(Number(p.name), p1.get(Number(p.name))?.name ?? '?');
  const cores = (Math.max(0, m1.busy - m0.busy - ours) * MICROS_PER_TICK) / 1000 / wallMs;
  return { cores, top };
}

/** One-minute load average (0 where the platform has none). */
export function loadAverage1(): number {
  return loadavg()[0] ?? 0;
}

/** The soft and hard limits on open file descriptors of this process (Infinity when unlimited or unknown). */
export function openFileLimit(): { soft: number; hard: number } {
  const text = readText('/proc/self/limits');
  const match = text === null ? null : /^Max open files\s+(\S+)\s+(\S+)/m.exec(text);
  if (match === null) return { soft: Infinity, hard: Infinity };
  const parse = (s: string | undefined): number => (s === undefined || s === 'unlimited' ? Infinity : Number(s));
  return { soft: parse(match[1]), hard: parse(match[2]) };
}

/**
 * From per-run results to one row per (scenario, server): medians over rounds, CPU per operation, the ratio to
 * ws + bufferutil from the same invocation, the issue-3 target verdict, and the warnings that qualify a number.
 */
import type { JobResult, JobSuccess } from './jobs.js';
import type { ServerId } from './servers.js';
import { SCENARIOS, type Metric, type ScenarioId } from './scenarios.js';
import { halfRange, median } from './stats.js';

/** One measured run. */
export interface RunRecord {
  scenario: ScenarioId;
  server: ServerId;
  round: number;
  /** Ready-line remark, e.g. which masking code ws loaded. */
  remark: string;
  result: JobResult;
}

/** Thresholds of the warnings. */
export const LIMITS = {
  /** Load generator CPU, in cores, above which it (not the server) may be what limits the result. */
  loadgenCores: 0.9,
  /** CPU used by other processes, in cores, above which results are disturbed. */
  otherCores: 0.2,
  /** Fraction of CPU time stolen by the hypervisor. */
  steal: 0.05,
  /** In throughput scenarios, server CPU below this (with the generator not saturated) means not CPU-bound. */
  serverBusy: 0.85,
};

/** nopoll/ws's echo ratio to ws must be at least this share of nopoll's own ratio (issue 13: within 10%). */
export const WS_API_SHARE = 0.9;

/** A qualification of one row; report.ts groups them by kind. */
export interface Warning {
  kind: 'loadgen' | 'other' | 'steal' | 'server-idle' | 'errors' | 'note' | 'failed';
  /** scenario / server */
  where: string;
  /** The value behind it, e.g. "92%". */
  detail: string;
  /** For 'other': the biggest other CPU users of the worst window. */
  who?: { name: string; cores: number }[];
}

export interface Row {
  scenario: ScenarioId;
  server: ServerId;
  label: string;
  status: 'ok' | 'unavailable' | 'failed';
  reason: string;
  metric: Metric;
  /** Headline value per successful round, and its median. Units by metric: msg/s, MB/s, hs/s, p99 µs, bytes. */
  values: number[];
  value: number | null;
  spread: number;
  p50Micros: number | null;
  p99Micros: number | null;
  cpuPerOpMicros: number | null;
  serverCores: number | null;
  loadgenCoresMax: number | null;
  otherCoresMax: number | null;
  stealMax: number | null;
  errors: number;
  /** Short flags for the table (explained in the legend). */
  flags: string[];
  /** What qualifies this row's numbers, for the warnings list. */
  warnings: Warning[];
  /** value / ws + bufferutil value (for latency: p99 over p99; for memory: bytes over bytes). */
  ratio: number | null;
  /** ws + bufferutil CPU per operation over this row's (higher is better): efficiency, whoever limited the rate. */
  cpuRatio: number | null;
  /** Latency scenarios: this row's p50 over ws + bufferutil's (lower is better). */
  p50Ratio: number | null;
  verdict: 'met' | 'missed' | null;
}

function headline(metric: Metric, r: JobSuccess): number | null {
  const seconds = r.window === null ? 0 : r.window.wallMs / 1000;
  switch (metric) {
    case 'messages':
    case 'connections':
      return seconds > 0 ? r.operations / seconds : null;
    case 'megabytes':
      return seconds > 0 ? r.payloadBytes / seconds / 1e6 : null;
    case 'latency':
      return r.latency === null || r.latency.count === 0 ? null : r.latency.p99Micros;
    case 'idle-memory':
      return r.idle === null ? null : r.idle.bytesPerConnection;
  }
}

const medianOrNull = (values: number[]): number | null => (values.length === 0 ? null : median(values));
const maxOrNull = (values: number[]): number | null => (values.length === 0 ? null : Math.max(...values));
const pct = (x: number): string => `${Math.round(x * 100)}%`;

export function aggregate(
  records: readonly RunRecord[],
  scenarios: readonly ScenarioId[],
  servers: readonly { id: ServerId; label: string; applies: (s: ScenarioId) => boolean }[],
  unavailable: ReadonlyMap<ServerId, string>,
): Row[] {
  const rows: Row[] = [];
  for (const scenarioId of scenarios) {
    const scenario = SCENARIOS.find((s) => s.id === scenarioId)!;
    const metric = scenario.metric;
    const throughput = metric === 'messages' || metric === 'megabytes' || metric === 'connections';
    for (const server of servers) {
      if (!server.applies(scenarioId)) continue;
      const row: Row = {
        scenario: scenarioId,
        server: server.id,
        label: server.label,
        status: 'ok',
        reason: '',
        metric,
        values: [],
        value: null,
        spread: 0,
        p50Micros: null,
        p99Micros: null,
        cpuPerOpMicros: null,
        serverCores: null,
        loadgenCoresMax: null,
        otherCoresMax: null,
        stealMax: null,
        errors: 0,
        flags: [],
        warnings: [],
        ratio: null,
        cpuRatio: null,
        p50Ratio: null,
        verdict: null,
      };
      rows.push(row);
      const missing = unavailable.get(server.id);
      if (missing !== undefined) {
        row.status = 'unavailable';
        row.reason = missing;
        continue;
      }
      const mine = records.filter((r) => r.scenario === scenarioId && r.server === server.id);
      const ok = mine.map((r) => r.result).filter((r): r is JobSuccess => r.ok);
      const failures = mine.filter((r) => !r.result.ok).map((r) => (r.result.ok ? '' : r.result.error));
      if (ok.length === 0) {
        row.status = 'failed';
        row.reason = failures[0] ?? 'not run';
        continue;
      }
      const where = `${scenarioId} / ${server.label}`;
      if (failures.length > 0) {
        row.warnings.push({
          kind: 'failed',
          where,
          detail: `${failures.length} of ${mine.length} runs: ${failures[0]}`,
        });
      }

      const values = ok.map((r) => headline(metric, r)).filter((v): v is number => v !== null);
      row.values = values;
      row.value = medianOrNull(values);
      row.spread = halfRange(values);
      row.p50Micros = medianOrNull(
        ok.flatMap((r) => (r.latency !== null && r.latency.count > 0 ? [r.latency.p50Micros] : [])),
      );
      row.p99Micros = medianOrNull(
        ok.flatMap((r) => (r.latency !== null && r.latency.count > 0 ? [r.latency.p99Micros] : [])),
      );
      row.cpuPerOpMicros = medianOrNull(
        ok.flatMap((r) =>
          r.window?.serverCpuMicros != null && r.operations > 0 ? [r.window.serverCpuMicros / r.operations] : [],
        ),
      );
      const windows = ok.flatMap((r) => (r.window === null ? [] : [r.window]));
      row.serverCores = medianOrNull(
        windows.flatMap((w) => (w.serverCpuMicros === null ? [] : [w.serverCpuMicros / 1000 / w.wallMs])),
      );
      row.loadgenCoresMax = maxOrNull(windows.map((w) => w.loadgenCpuMicros / 1000 / w.wallMs));
      row.otherCoresMax = maxOrNull(windows.flatMap((w) => (w.otherCores === null ? [] : [w.otherCores])));
      row.stealMax = maxOrNull(windows.flatMap((w) => (w.stealFraction === null ? [] : [w.stealFraction])));
      row.errors = ok.reduce((sum, r) => sum + r.errors, 0);

      if (row.loadgenCoresMax !== null && row.loadgenCoresMax >= LIMITS.loadgenCores) {
        row.flags.push(`LG ${pct(row.loadgenCoresMax)}`);
        row.warnings.push({ kind: 'loadgen', where, detail: pct(row.loadgenCoresMax) });
      }
      if (row.otherCoresMax !== null && row.otherCoresMax >= LIMITS.otherCores) {
        row.flags.push(`other ${row.otherCoresMax.toFixed(2)}`);
        // Name the biggest other users seen in the worst window.
        const worst = windows.reduce((a, b) => ((b.otherCores ?? 0) > (a.otherCores ?? 0) ? b : a));
        row.warnings.push({
          kind: 'other',
          where,
          detail: `${row.otherCoresMax.toFixed(2)} cores`,
          who: worst.otherTop,
        });
      }
      if (row.stealMax !== null && row.stealMax >= LIMITS.steal) {
        row.flags.push(`steal ${pct(row.stealMax)}`);
        row.warnings.push({ kind: 'steal', where, detail: pct(row.stealMax) });
      }
      if (
        throughput &&
        row.serverCores !== null &&
        row.serverCores < LIMITS.serverBusy &&
        (row.loadgenCoresMax === null || row.loadgenCoresMax < LIMITS.loadgenCores)
      ) {
        row.flags.push(`srv ${pct(row.serverCores)}`);
        row.warnings.push({ kind: 'server-idle', where, detail: pct(row.serverCores) });
      }
      if (row.errors > 0) {
        row.flags.push(`err ${row.errors}`);
        row.warnings.push({ kind: 'errors', where, detail: String(row.errors) });
      }
      for (const note of new Set(ok.flatMap((r) => r.notes))) {
        if (note.startsWith('offered rate not sustained')) row.flags.push('rate!');
        row.warnings.push({ kind: 'note', where, detail: note });
      }
    }
    // Ratios against ws + bufferutil of this same invocation, and the targets for nopoll.
    const baseline = rows.find((r) => r.scenario === scenarioId && r.server === 'ws' && r.value !== null);
    for (const row of rows) {
      if (row.scenario !== scenarioId || row.value === null || baseline === undefined || baseline.value === 0) continue;
      row.ratio = row.value / baseline.value!;
      if (row.p50Micros !== null && baseline.p50Micros) row.p50Ratio = row.p50Micros / baseline.p50Micros;
      if (row.cpuPerOpMicros !== null && baseline.cpuPerOpMicros !== null && row.cpuPerOpMicros > 0) {
        row.cpuRatio = baseline.cpuPerOpMicros / row.cpuPerOpMicros;
      }
      if (row.server === 'nopoll' && scenario.target !== null) {
        let met = scenario.target.atLeast ? row.ratio >= scenario.target.ratio : row.ratio <= scenario.target.ratio;
        // A latency target on p50 too: its ratio to ws's p50 must meet the same bound.
        if (scenario.target.p50 === true) {
          met = met && row.p50Ratio !== null && row.p50Ratio <= scenario.target.ratio;
        }
        row.verdict = met ? 'met' : 'missed';
      }
    }
    // nopoll/ws, the ws API over nopoll (echo scenarios only), must keep WS_API_SHARE of nopoll's own ratio to ws.
    const own = rows.find((r) => r.scenario === scenarioId && r.server === 'nopoll' && r.ratio !== null);
    for (const row of rows) {
      if (row.scenario !== scenarioId || row.server !== 'nopoll-ws' || row.ratio === null || own === undefined)
        continue;
      row.verdict = row.ratio >= WS_API_SHARE * own.ratio! ? 'met' : 'missed';
    }
  }
  return rows;
}

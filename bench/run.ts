/**
 * `npm run bench`: the orchestrator. Runs the micro benchmarks, then the end-to-end scenarios: for each round, for
 * each scenario, each server in turn (so drift hits every server alike), each run with a fresh server process and
 * a fresh load-generator process. Prints the table, writes bench/results-<date>.json and (full runs) RESULTS.md.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { aggregate, LIMITS, type RunRecord } from './lib/aggregate.js';
import { parseArgs, USAGE, type Options } from './lib/args.js';
import { historyRun, recordRun, writeCharts } from './lib/history.js';
import type { JobResult, Target } from './lib/jobs.js';
import { runLoadgen } from './lib/loadgen-process.js';
import { BENCH_BUILD, BENCH_SOURCE } from './lib/paths.js';
import { loadAverage1, openFileLimit, sampleOtherLoad } from './lib/procfs.js';
import {
  E2E_LEGEND,
  formatE2ETable,
  formatMicroTable,
  formatWarnings,
  machineInfo,
  MICRO_NOISY,
  writeResultsMarkdown,
  type MachineInfo,
} from './lib/report.js';
import { SCENARIOS, type ScenarioSpec, type Timing } from './lib/scenarios.js';
import {
  killAllChildren,
  serverSpecs,
  startServer,
  trackChild,
  type ServerId,
  type ServerSpec,
} from './lib/servers.js';
import type { MicroReport } from './micro/main.js';
import { runPubSubBench, type PubSubRecord, type PubSubRow } from './pubsub/run.js';
import type { MicroResult } from './micro/harness.js';

const wallStart = performance.now();
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const log = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};

// ---- cleanup: no child outlives the harness ---------------------------------------------------------------------

process.on('exit', killAllChildren);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    process.stderr.write(`\n${signal}: stopping servers and load generator\n`);
    killAllChildren();
    process.exit(130);
  });
}
process.on('uncaughtException', (error) => {
  process.stderr.write(`bench: ${error.stack ?? error.message}\n`);
  killAllChildren();
  process.exit(1);
});

// ---- options and environment ------------------------------------------------------------------------------------

const parsed = parseArgs(process.argv.slice(2));
if (typeof parsed === 'string') {
  (parsed === USAGE ? process.stdout : process.stderr).write(`${parsed}\n`);
  process.exit(parsed === USAGE ? 0 : 2);
}
const options: Options = parsed;
if (options.chartsOnly) {
  for (const path of writeCharts(BENCH_SOURCE)) log(`updated ${path}`);
  process.exit(0);
}
const globalWarnings: string[] = [];
const machine: MachineInfo = machineInfo();
const require = createRequire(import.meta.url);
const versionOf = (pkg: string): string => {
  try {
    return (require(`${pkg}/package.json`) as { version: string }).version;
  } catch {
    return 'missing';
  }
};
const versions = { ws: versionOf('ws'), bufferutil: versionOf('bufferutil') };

log(
  `nopoll bench: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.os}, Node ${machine.node}`,
);
log(`ws ${versions.ws}, bufferutil ${versions.bufferutil}, commit ${machine.commit}`);
if (machine.cores < 2) globalWarnings.push(`only ${machine.cores} core: server and load generator share it.`);
// Is anything else running? Measured directly over half a second (the load average would still show a previous
// benchmark run for minutes).
const loadAverage = loadAverage1();
const startLoad = await sampleOtherLoad(500, new Set([process.pid, process.ppid]));
if (startLoad !== null && startLoad.cores >= LIMITS.otherCores) {
  const who = startLoad.top.map((p) => `${p.name} ${p.cores.toFixed(2)}`).join(', ');
  globalWarnings.push(
    `the machine was not idle at the start: other processes used ${startLoad.cores.toFixed(2)} cores (${who}).`,
  );
}

// File descriptors: the idle scenario needs one per connection in the server and in the load generator. Node
// raises its own soft limit to the hard limit at startup (so does every child), so the hard limit is what counts.
if (options.pubsub.some((s) => s === 'fanout-64b' || s === 'fanout-4k' || s === 'sub-memory')) {
  const needed = Math.max(options.subscribers, 10_000) + 256;
  const { hard } = openFileLimit();
  if (hard < needed)
    globalWarnings.push(`the open-file limit is ${hard}: the pub/sub scenarios need ${needed} (they may fail).`);
}
if (options.scenarios.some((s) => s === 'idle' || s === 'deflate-idle' || s === 'deflate-used')) {
  const needed = options.idleConnections + 256;
  const { hard } = openFileLimit();
  if (hard < needed) {
    const capped = Math.max(100, hard - 256);
    globalWarnings.push(
      `the open-file limit is ${hard}: the idle scenario uses ${capped} connections instead of ${options.idleConnections}.`,
    );
    options.idleConnections = capped;
  }
}
for (const w of globalWarnings) log(`WARNING: ${w}`);

const timing: Timing = {
  warmupMs: options.warmupMs,
  durationMs: options.durationMs,
  idleConnections: options.idleConnections,
  latencyRate: options.latencyRate,
};

// ---- child processes --------------------------------------------------------------------------------------------

/** Runs the micro benchmarks in their own process, printing each case as it completes. */
function runMicro(): Promise<MicroReport | null> {
  const args = [join(BENCH_BUILD, 'micro', 'main.js'), ...(options.quick ? ['--quick'] : [])];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  trackChild(child);
  return new Promise((resolve) => {
    child.on('message', (message: { progress?: MicroResult[]; report?: MicroReport }) => {
      for (const r of message.progress ?? []) {
        const value = r.opsPerSec === null ? r.status : `${Math.round(r.opsPerSec).toLocaleString('en-US')} ops/s`;
        log(`  ${r.group.padEnd(6)} ${r.name.slice(0, 58).padEnd(58)} ${r.impl.padEnd(15)} ${value}`);
      }
      if (message.report !== undefined) resolve(message.report);
    });
    child.once('exit', () => resolve(null));
  });
}

// ---- micro ------------------------------------------------------------------------------------------------------

let micro: MicroReport | null = null;
if (options.micro) {
  log('\nmicro benchmarks (ws internals vs nopoll core)');
  micro = await runMicro();
  if (micro === null) log('micro benchmarks failed (see above)');
}

// ---- end to end -------------------------------------------------------------------------------------------------

const specs = serverSpecs().filter((s) => options.servers.includes(s.id));
const applies = (spec: ServerSpec, scenario: ScenarioSpec): boolean =>
  (spec.scenarios === null || spec.scenarios.includes(scenario.id)) &&
  (scenario.deflate !== true || spec.deflateArgs !== null);
// A deflate scenario starts the server with compression on (and the same zlib level everywhere with --deflate-level).
const withDeflate = (spec: ServerSpec, scenario: ScenarioSpec): ServerSpec =>
  scenario.deflate === true && spec.deflateArgs !== null
    ? {
        ...spec,
        args: [
          ...spec.args,
          ...spec.deflateArgs,
          ...(options.deflateLevel === null ? [] : ['--deflate-level', String(options.deflateLevel)]),
        ],
      }
    : spec;
const scenarios = SCENARIOS.filter((s) => options.scenarios.includes(s.id));
const records: RunRecord[] = [];
const unavailable = new Map<ServerId, string>();
const remarks = new Map<ServerId, string>();

async function runOne(scenario: ScenarioSpec, spec: ServerSpec, t: Timing): Promise<JobResult> {
  let server;
  try {
    server = await startServer(withDeflate(spec, scenario));
  } catch (error) {
    return { ok: false, error: `server did not start: ${(error as Error).message.split('\n')[0]}` };
  }
  remarks.set(spec.id, server.remark);
  await sleep(200); // let the fresh process finish its startup work before anything is measured
  const target: Target = { host: server.host, port: server.port, pid: server.pid, kind: spec.kind, transport: 'tcp' };
  const timeoutMs = scenario.estimateSeconds(t) * 1000 * 3 + 20_000;
  let result = await runLoadgen(scenario.job(target, t), timeoutMs);
  const alive = (() => {
    try {
      process.kill(server.pid, 0);
      return true;
    } catch {
      return false;
    }
  })();
  if (!alive)
    result = { ok: false, error: `server died during the run: ${server.stderrTail().split('\n').pop() ?? ''}` };
  await server.stop();
  return result;
}

function progressLine(scenario: ScenarioSpec, spec: ServerSpec, round: number, result: JobResult): string {
  const head = `  [${round}/${options.rounds}] ${scenario.id.padEnd(9)} ${spec.label.slice(0, 34).padEnd(34)}`;
  if (!result.ok) return `${head} FAILED: ${result.error.split('\n')[0]}`;
  const w = result.window;
  const seconds = w === null ? 0 : w.wallMs / 1000;
  let value: string;
  switch (scenario.metric) {
    case 'messages':
      value = `${Math.round(result.operations / seconds).toLocaleString('en-US')} msg/s`;
      break;
    case 'megabytes':
      value = `${(result.payloadBytes / seconds / 1e6).toFixed(0)} MB/s`;
      break;
    case 'connections':
      value = `${Math.round(result.operations / seconds).toLocaleString('en-US')} conn/s`;
      break;
    case 'latency':
      value =
        (result.latency?.p99Micros ?? 0) < 1000
          ? `p50 ${(result.latency?.p50Micros ?? NaN).toFixed(1)} p99 ${(result.latency?.p99Micros ?? NaN).toFixed(1)} µs`
          : `p50 ${((result.latency?.p50Micros ?? NaN) / 1000).toFixed(3)} p99 ${((result.latency?.p99Micros ?? NaN) / 1000).toFixed(3)} ms`;
      break;
    case 'idle-memory':
      value = `${((result.idle?.bytesPerConnection ?? NaN) / 1024).toFixed(1)} KiB/conn (${result.idle?.connections} in ${Math.round(result.idle?.openMs ?? 0)} ms)`;
      break;
  }
  const cpu =
    w === null
      ? ''
      : `srv ${w.serverCpuMicros === null ? '-' : Math.round(w.serverCpuMicros / 10 / w.wallMs)}% lg ${Math.round(w.loadgenCpuMicros / 10 / w.wallMs)}%`;
  const other =
    w !== null && w.otherCores !== null && w.otherCores >= LIMITS.otherCores
      ? `other load ${w.otherCores.toFixed(2)} cores${w.otherTop[0] === undefined ? '' : `, mostly ${w.otherTop[0].name}`}`
      : '';
  const extra = [result.errors > 0 ? `errors ${result.errors}` : '', other, ...result.notes]
    .filter((s) => s !== '')
    .join('; ');
  return `${head} ${value.padEnd(26)} ${cpu}${extra === '' ? '' : `  (${extra})`}`;
}

if (scenarios.length > 0 && specs.length > 0) {
  log('\nend to end: checking servers');
  for (const spec of specs) {
    try {
      const server = await startServer(spec);
      remarks.set(spec.id, server.remark);
      await server.stop();
      log(`  ${spec.label}: ok${server.remark === '' ? '' : ` (${server.remark})`}`);
    } catch (error) {
      const reason = (error as Error).message;
      unavailable.set(spec.id, reason);
      log(`  ${spec.label}: UNAVAILABLE, its rows are skipped. ${reason.split('\n').join('\n      ')}`);
    }
  }
  const live = specs.filter((s) => !unavailable.has(s.id));
  const runsPerRound = scenarios.flatMap((sc) => live.filter((sp) => applies(sp, sc)).map(() => sc));
  const estimate = options.rounds * runsPerRound.reduce((sum, sc) => sum + sc.estimateSeconds(timing) + 0.6, 0);
  log(
    `\nend to end: ${options.rounds} round(s) x ${runsPerRound.length} runs, ` +
      `${timing.warmupMs} ms warm-up + ${timing.durationMs} ms window each, about ${Math.round(estimate)} s`,
  );
  // One discarded run first, to bring the machine (CPU clocks, TCP stack, caches) to its working state.
  const first = live.find((s) => s.kind === 'ws');
  const warmScenario = SCENARIOS.find((s) => s.id === '64b')!;
  if (first !== undefined) {
    await runOne(warmScenario, first, { ...timing, warmupMs: 250, durationMs: options.quick ? 500 : 1000 });
  }
  for (let round = 1; round <= options.rounds; round++) {
    for (const scenario of scenarios) {
      for (const spec of live) {
        if (!applies(spec, scenario)) continue;
        const result = await runOne(scenario, spec, timing);
        records.push({ scenario: scenario.id, server: spec.id, round, remark: remarks.get(spec.id) ?? '', result });
        log(progressLine(scenario, spec, round, result));
      }
    }
  }
}

// ---- pub/sub ----------------------------------------------------------------------------------------------------

let pubsub: { rows: PubSubRow[]; records: PubSubRecord[] } | null = null;
if (options.pubsub.length > 0) {
  pubsub = await runPubSubBench(
    options.pubsub,
    options.rounds,
    { warmupMs: timing.warmupMs, durationMs: timing.durationMs, subscribers: options.subscribers },
    log,
  );
}

// ---- report -----------------------------------------------------------------------------------------------------

const rows = aggregate(
  records,
  scenarios.map((s) => s.id),
  specs.map((spec) => ({
    id: spec.id,
    label: spec.label,
    applies: (id) => spec.scenarios === null || spec.scenarios.includes(id),
  })),
  unavailable,
);
if (micro !== null) {
  const noisy = micro.results.filter((r) => r.status === 'ok' && r.spread > MICRO_NOISY).length;
  if (noisy > 0) {
    globalWarnings.push(
      `${noisy} micro results are noisy (samples spread more than ±${MICRO_NOISY * 100}%): rerun on a quiet machine.`,
    );
  }
}
const warnings = formatWarnings(globalWarnings, rows);
const wallSeconds = (performance.now() - wallStart) / 1000;
const date = new Date();

if (micro !== null) {
  log(`\nmicro benchmarks (median of ${micro.options.samples} samples; ws masking: ${micro.wsMasking})`);
  log(formatMicroTable(micro.results, 'text'));
}
if (rows.length > 0) {
  log(`\nend to end (median of ${options.rounds} round(s); ratios against ws + bufferutil from this run)`);
  log(formatE2ETable(rows, 'text'));
  log(`\n${E2E_LEGEND}`);
}
if (warnings.length > 0) {
  log('\nwarnings:');
  for (const w of warnings) log(`  - ${w}`);
}
log(`\nwall time ${Math.floor(Math.round(wallSeconds) / 60)} min ${Math.round(wallSeconds) % 60} s`);

const stamp = date.toISOString().replace(/:/g, '-').replace(/\..*$/, '');
const jsonPath = join(BENCH_SOURCE, `results-${stamp}.json`);
writeFileSync(
  jsonPath,
  `${JSON.stringify(
    {
      date: date.toISOString(),
      machine,
      versions,
      options,
      timing,
      wallSeconds,
      loadAverageAtStart: loadAverage,
      otherLoadAtStart: startLoad,
      micro,
      rows,
      records,
      pubsub,
      warnings,
    },
    null,
    2,
  )}\n`,
);
log(`results: ${jsonPath}`);

if (options.write ?? !options.partial) {
  const serverLines = specs.map((s) => {
    const state = unavailable.has(s.id) ? 'unavailable' : (remarks.get(s.id) ?? '');
    return `- **${s.label}** (\`${s.id}\`)${state === '' ? '' : `: ${state}`}`;
  });
  const section = [
    `## Latest run: ${date.toISOString().slice(0, 10)}`,
    '',
    `- Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB RAM, ${machine.os}`,
    `- Node ${machine.node}; ws ${versions.ws}; bufferutil ${versions.bufferutil}; commit ${machine.commit}`,
    `- Date: ${date.toISOString()}; wall time ${Math.round(wallSeconds)} s` + (options.partial ? ' (partial run)' : ''),
    `- Method: ${options.rounds} round(s), servers alternated within each scenario, fresh server and load-generator ` +
      `processes per run, ${timing.warmupMs} ms warm-up + ${timing.durationMs} ms window, medians. ` +
      `Idle memory at ${timing.idleConnections.toLocaleString('en-US')} connections; latency at ` +
      `${timing.latencyRate.toLocaleString('en-US')} msg/s offered.`,
    '',
    'Servers:',
    '',
    ...serverLines,
    '',
    ...(rows.length > 0 ? ['### End to end', '', formatE2ETable(rows, 'markdown'), '', E2E_LEGEND, ''] : []),
    ...(warnings.length > 0 ? ['Warnings:', '', ...warnings.map((w) => `- ${w}`), ''] : []),
    ...(micro !== null
      ? [
          '### Micro benchmarks',
          '',
          `ws internals (masking: ${micro.wsMasking}) against nopoll's core, median of ${micro.options.samples} samples.`,
          '',
          formatMicroTable(micro.results, 'markdown'),
          '',
        ]
      : []),
  ].join('\n');
  writeResultsMarkdown(join(BENCH_SOURCE, 'RESULTS.md'), section);
  log(`updated ${join(BENCH_SOURCE, 'RESULTS.md')}`);
  const entry = historyRun(rows, {
    date: date.toISOString(),
    commit: machine.commit,
    node: machine.node,
    rounds: options.rounds,
    partial: options.partial,
  });
  for (const path of recordRun(BENCH_SOURCE, entry)) log(`updated ${path}`);
} else {
  log('RESULTS.md left unchanged (partial run; --write to update it anyway)');
}
process.exit(0);

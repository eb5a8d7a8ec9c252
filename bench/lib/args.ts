/** Command-line options of `npm run bench -- [options]`. */
import { PUBSUB_SCENARIO_IDS, type PubSubScenarioId } from '../pubsub/scenarios.js';
import { DEFAULT_SCENARIO_IDS, SCENARIO_IDS, type ScenarioId } from './scenarios.js';
import { SERVER_IDS, type ServerId } from './servers.js';

export interface Options {
  quick: boolean;
  micro: boolean;
  scenarios: ScenarioId[];
  /** Pub/sub scenarios (bench/pubsub), only when named (or `pubsub` for all of them). */
  pubsub: PubSubScenarioId[];
  /** Subscribers of the pub/sub fan-out scenarios. */
  subscribers: number;
  servers: ServerId[];
  rounds: number;
  warmupMs: number;
  durationMs: number;
  idleConnections: number;
  latencyRate: number;
  /** zlib level for every server in the deflate scenarios (null: each server's default). */
  deflateLevel: number | null;
  /** Update RESULTS.md: true/false when forced, null to decide (only full default runs do). */
  write: boolean | null;
  /** Anything that makes this not a full default run (then RESULTS.md is left alone unless --write). */
  partial: boolean;
  /** Only redraw the charts from bench/history.jsonl (`--charts`), measure nothing. */
  chartsOnly: boolean;
}

export const USAGE = `npm run bench -- [options]

  --quick             1 round, 0.5 s warm-up + 1.5 s window per run, 5,000 idle connections (about a minute)
  --micro             run only the micro benchmarks
  --no-micro          skip the micro benchmarks
  --only LIST         comma-separated: ${[...SCENARIO_IDS, 'micro'].join(', ')};
                      pub/sub (bench/pubsub, not in the default run): ${PUBSUB_SCENARIO_IDS.join(', ')}, or pubsub for all
  --subscribers N     subscribers of the pub/sub fan-out scenarios (default 10000)
  --servers LIST      comma-separated: ${SERVER_IDS.join(', ')} (default: all; ratios need ws)
  --rounds N          rounds of alternating servers (default 3)
  --warmup MS         warm-up per run before the window (default 750)
  --duration MS       measurement window per run (default 2500)
  --idle-conns N      connections in the idle-memory scenario (default 10000)
  --latency-rate N    offered messages/s in the latency scenario (default 20000)
  --deflate-level N   zlib level 0-9 for all servers in the deflate-* scenarios (default: each server's own,
                      nopoll 1, ws 6)
  --write / --no-write  update bench/RESULTS.md, append to bench/history.jsonl and redraw bench/ratios.svg and
                      bench/history.svg (default: only on a full default run)
  --charts            only redraw the two charts from bench/history.jsonl
  --help`;

export function parseArgs(argv: readonly string[]): Options | string {
  const o = {
    quick: false,
    microOnly: false,
    noMicro: false,
    only: null as string[] | null,
    servers: null as string[] | null,
    rounds: null as number | null,
    warmupMs: null as number | null,
    durationMs: null as number | null,
    idleConnections: null as number | null,
    latencyRate: null as number | null,
    subscribers: null as number | null,
    deflateLevel: null as number | null,
    write: null as boolean | null,
    chartsOnly: false,
  };
  const list = (s: string | undefined): string[] =>
    (s ?? '')
      .split(',')
      .map((x) => x.trim())
      .filter((x) => x !== '');
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const number = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v <= 0) throw new Error(`${arg} needs a positive number`);
      return v;
    };
    try {
      switch (arg) {
        case '--quick':
          o.quick = true;
          break;
        case '--micro':
          o.microOnly = true;
          break;
        case '--no-micro':
          o.noMicro = true;
          break;
        case '--only':
          o.only = list(argv[++i]);
          break;
        case '--servers':
          o.servers = list(argv[++i]);
          break;
        case '--rounds':
          o.rounds = Math.round(number());
          break;
        case '--warmup':
          o.warmupMs = number();
          break;
        case '--duration':
          o.durationMs = number();
          break;
        case '--idle-conns':
          o.idleConnections = Math.round(number());
          break;
        case '--latency-rate':
          o.latencyRate = number();
          break;
        case '--subscribers':
          o.subscribers = Math.round(number());
          break;
        case '--deflate-level': {
          const v = Number(argv[++i]);
          if (!Number.isInteger(v) || v < 0 || v > 9) throw new Error('--deflate-level needs an integer from 0 to 9');
          o.deflateLevel = v;
          break;
        }
        case '--write':
          o.write = true;
          break;
        case '--no-write':
          o.write = false;
          break;
        case '--charts':
          o.chartsOnly = true;
          break;
        case '--help':
        case '-h':
          return USAGE;
        default:
          return `unknown option ${arg}\n\n${USAGE}`;
      }
    } catch (error) {
      return `${(error as Error).message}\n\n${USAGE}`;
    }
  }
  const known = new Set<string>([...SCENARIO_IDS, ...PUBSUB_SCENARIO_IDS, 'pubsub', 'micro']);
  const badScenario = (o.only ?? []).find((s) => !known.has(s));
  if (badScenario !== undefined) return `unknown scenario ${badScenario}\n\n${USAGE}`;
  const badServer = (o.servers ?? []).find((s) => !(SERVER_IDS as readonly string[]).includes(s));
  if (badServer !== undefined) return `unknown server ${badServer}\n\n${USAGE}`;

  const scenarios = o.microOnly
    ? []
    : o.only === null
      ? [...DEFAULT_SCENARIO_IDS]
      : SCENARIO_IDS.filter((s) => o.only!.includes(s));
  const micro = o.microOnly || (!o.noMicro && (o.only === null || o.only.includes('micro')));
  const pubsub =
    o.microOnly || o.only === null
      ? []
      : PUBSUB_SCENARIO_IDS.filter((s) => o.only!.includes(s) || o.only!.includes('pubsub'));
  const servers = SERVER_IDS.filter((s) => o.servers === null || o.servers.includes(s));
  const partial =
    o.quick ||
    o.microOnly ||
    o.noMicro ||
    o.only !== null ||
    o.servers !== null ||
    [o.rounds, o.warmupMs, o.durationMs, o.idleConnections, o.latencyRate, o.subscribers, o.deflateLevel].some(
      (v) => v !== null,
    );
  return {
    quick: o.quick,
    micro,
    scenarios,
    pubsub,
    subscribers: o.subscribers ?? 10_000,
    servers,
    rounds: o.rounds ?? (o.quick ? 1 : 3),
    warmupMs: o.warmupMs ?? (o.quick ? 500 : 750),
    durationMs: o.durationMs ?? (o.quick ? 1500 : 2500),
    idleConnections: o.idleConnections ?? (o.quick ? 5000 : 10_000),
    latencyRate: o.latencyRate ?? 20_000,
    deflateLevel: o.deflateLevel,
    write: o.write,
    partial,
    chartsOnly: o.chartsOnly,
  };
}

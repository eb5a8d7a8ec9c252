/**
 * Micro-benchmark process: runs every case and sends the results to the orchestrator over IPC, or prints them when
 * started by hand (`node build/bench/micro/main.js [--quick]`).
 */
import { formatMicroTable } from '../lib/report.js';
import { microCases } from './cases.js';
import { runCase, sinkValue, type MicroOptions, type MicroResult } from './harness.js';
import { wsMaskingCode, wsVersion } from './ws-core.js';

export interface MicroReport {
  wsVersion: string;
  wsMasking: string;
  options: MicroOptions;
  results: MicroResult[];
}

const quick = process.argv.includes('--quick');
const options: MicroOptions = quick
  ? { sampleMs: 20, warmupSamples: 2, samples: 5 }
  : { sampleMs: 40, warmupSamples: 3, samples: 9 };

const results: MicroResult[] = [];
for (const c of microCases()) {
  const caseResults = await runCase(c, options);
  results.push(...caseResults);
  if (process.send !== undefined) process.send({ progress: caseResults });
}
const report: MicroReport = { wsVersion, wsMasking: wsMaskingCode, options, results };
if (sinkValue() === 0x7fffffff) console.log(''); // the sink is read, so no loop is dead code

if (process.send !== undefined) {
  process.send({ report }, () => process.exit(0));
} else {
  console.log(`ws ${wsVersion}, masking: ${wsMaskingCode}`);
  console.log(formatMicroTable(results, 'text'));
}

// `npm run mutation` (issue 6): proves that each protection of docs/security.md has a test that fails without it.
// For every mutation of test/mutations/mutations.mjs it disables one protection with a minimal edit of a file under
// src/, runs the tests named for it, and records KILLED (a test failed), SURVIVED (all passed), TIMEOUT (the run
// hung: killed after --timeout-s, or only runner timeouts failed) or ERROR (the edit could not be applied, the build
// failed, or no test ran). The checkout is never touched: the work happens in a clone of HEAD in a temporary
// directory, with node_modules linked and the working tree's uncommitted test/ and scripts/ files copied over.
// Runs are sequential. Exit status: 0 when every mutation was killed, 1 when one survived, 2 for errors.
//
//   node scripts/mutation-check.mjs [--only id1,id2] [--list] [--check] [--overlay test,scripts | all | none]
//                                   [--timeout-s 180] [--no-baseline] [--keep] [--markdown file] [--json file]
//
// --list       print the mutations and exit
// --check      only verify that each `find` occurs exactly once in the prepared tree (no tests)
// --overlay    uncommitted paths of the working tree copied into the clone (default test,scripts; `all` includes
//              src/, `none` tests HEAD exactly)
// --no-baseline  skip the first run of every test file involved without mutation (it must pass)
// --keep       keep the temporary clone (its logs/ holds each run's output)
import { execFileSync, spawn } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const MUTATIONS = join(ROOT, 'test', 'mutations', 'mutations.mjs');

// ---- options ----
const options = {
  only: null,
  list: false,
  check: false,
  overlay: ['test', 'scripts'],
  timeoutS: 180,
  baseline: true,
  keep: false,
  markdown: null,
  json: null,
};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const arg = argv[i];
  const [name, inline] = arg.includes('=')
    ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
    : [arg, undefined];
  const value = () => {
    const v = inline ?? argv[++i];
    if (v === undefined) usage(`${name} needs a value`);
    return v;
  };
  switch (name) {
    case '--only':
      options.only = value()
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      break;
    case '--list':
      options.list = true;
      break;
    case '--check':
      options.check = true;
      break;
    case '--overlay': {
      const v = value();
      options.overlay =
        v === 'none'
          ? []
          : v === 'all'
            ? ['.']
            : v
                .split(',')
                .map((s) => s.trim())
                .filter(Boolean);
      break;
    }
    case '--timeout-s':
      options.timeoutS = Number(value());
      break;
    case '--no-baseline':
      options.baseline = false;
      break;
    case '--keep':
      options.keep = true;
      break;
    case '--markdown':
      options.markdown = resolve(value());
      break;
    case '--json':
      options.json = resolve(value());
      break;
    case '--help':
    case '-h':
      usage();
      break;
    default:
      usage(`unknown option ${arg}`);
  }
}
if (!(options.timeoutS > 0)) usage('--timeout-s must be a positive number');

function usage(problem) {
  if (problem) console.error(`mutation-check: ${problem}`);
  console.error(
    'usage: node scripts/mutation-check.mjs [--only id1,id2] [--list] [--check] [--overlay test,scripts|all|none] [--timeout-s 180] [--no-baseline] [--keep] [--markdown file] [--json file]',
  );
  process.exit(problem ? 2 : 0);
}

// ---- the mutation list ----
const { mutations: all } = await import(pathToFileURL(MUTATIONS).href);
const seen = new Set();
for (const m of all) {
  const where = `mutation ${JSON.stringify(m.id)}`;
  for (const key of ['id', 'protection', 'what', 'file', 'find'])
    if (typeof m[key] !== 'string' || m[key] === '') fail(`${where}: ${key} must be a non-empty string`);
  if (typeof m.replace !== 'string') fail(`${where}: replace must be a string`);
  if (m.find === m.replace) fail(`${where}: replace equals find`);
  if (!m.file.startsWith('src/')) fail(`${where}: file must be under src/`);
  if (!Array.isArray(m.tests) || m.tests.length === 0 || m.tests.some((t) => typeof t !== 'string' || t === ''))
    fail(`${where}: tests must list test file filters`);
  if (m.pattern !== undefined && typeof m.pattern !== 'string') fail(`${where}: pattern must be a string`);
  if (seen.has(m.id)) fail(`${where}: duplicate id`);
  seen.add(m.id);
}
let selected = all;
if (options.only !== null) {
  for (const id of options.only) if (!seen.has(id)) fail(`--only: no mutation ${id}`);
  selected = all.filter((m) => options.only.includes(m.id));
}
if (options.list) {
  for (const m of selected)
    console.log(
      `${m.id.padEnd(28)} ${m.protection.padEnd(34)} ${m.file}  [${m.tests.join(', ')}${m.pattern ? ` / ${m.pattern}` : ''}]`,
    );
  process.exit(0);
}

function fail(message) {
  console.error(`mutation-check: ${message}`);
  process.exit(2);
}

function occurrences(text, find) {
  let count = 0;
  for (let at = text.indexOf(find); at !== -1; at = text.indexOf(find, at + 1)) count++;
  return count;
}

// ---- the work tree: a clone of HEAD plus the chosen uncommitted paths ----
const git = (...args) => execFileSync('git', ['-C', ROOT, ...args], { encoding: 'utf8' });
const head = git('rev-parse', 'HEAD').trim();
const work = mkdtempSync(join(tmpdir(), 'nopoll-mutation-'));
const logs = join(work, 'logs');
let child = null;
const cleanup = () => {
  if (child !== null) killGroup(child);
  if (!options.keep) rmSync(work, { recursive: true, force: true });
};
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    cleanup();
    process.exit(130);
  });
}

const tree = join(work, 'tree');
execFileSync('git', ['clone', '-q', ROOT, tree]);
execFileSync('git', ['-C', tree, 'checkout', '-q', head]);
symlinkSync(join(ROOT, 'node_modules'), join(tree, 'node_modules'), 'dir');
mkdirSync(logs);
const overlaid = [];
if (options.overlay.length > 0) {
  const changed = git('ls-files', '-z', '-m', '-o', '--exclude-standard', '--', ...options.overlay)
    .split('\0')
    .filter(Boolean);
  for (const path of new Set(changed)) {
    const from = join(ROOT, path);
    const to = join(tree, path);
    if (existsSync(from)) {
      mkdirSync(dirname(to), { recursive: true });
      copyFileSync(from, to);
    } else {
      rmSync(to, { force: true });
    }
    overlaid.push(path);
  }
}
console.log(`mutation-check: HEAD ${head.slice(0, 12)} cloned into ${tree}`);
console.log(
  `  overlay (${options.overlay.length === 0 ? 'none' : options.overlay.join(',')}): ${overlaid.length === 0 ? 'nothing uncommitted' : overlaid.join(', ')}`,
);

// Every `find` must occur exactly once in the file as it is in the tree, and every filter must select a test file
// (as scripts/test.mjs matches them: against build/test/.../name.test.js).
const problems = [];
const testFiles = (function find(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return find(path);
    return name.endsWith('.test.ts') ? [join('build', path.slice(tree.length + 1)).replace(/\.ts$/, '.js')] : [];
  });
})(join(tree, 'test'));
for (const m of selected) {
  for (const filter of m.tests)
    if (!testFiles.some((f) => f.includes(filter)))
      problems.push(`${m.id}: no test file matches ${JSON.stringify(filter)}`);
}
for (const m of selected) {
  const path = join(tree, m.file);
  if (!existsSync(path)) {
    problems.push(`${m.id}: ${m.file} does not exist`);
    continue;
  }
  const count = occurrences(readFileSync(path, 'utf8'), m.find);
  if (count !== 1)
    problems.push(
      `${m.id}: \`find\` occurs ${count} times in ${m.file} (must be exactly once): ${JSON.stringify(m.find)}`,
    );
}
if (problems.length > 0) {
  for (const p of problems) console.error(`mutation-check: ${p}`);
  cleanup();
  process.exit(2);
}
if (options.check) {
  console.log(`mutation-check: all ${selected.length} \`find\` strings occur exactly once`);
  cleanup();
  process.exit(0);
}

// ---- running tests ----
function killGroup(proc) {
  try {
    process.kill(-proc.pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}

// Runs `node scripts/test.mjs <filters> [--test-name-pattern=...]` in the tree, in its own process group so that
// a hung run is killed with every process it started.
function runTests(filters, pattern, logName) {
  const args = ['scripts/test.mjs', '--no-format', ...filters, ...(pattern ? [`--test-name-pattern=${pattern}`] : [])];
  const started = Date.now();
  return new Promise((resolveRun) => {
    const proc = spawn(process.execPath, args, { cwd: tree, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    const chunks = [];
    proc.stdout.on('data', (c) => chunks.push(c));
    proc.stderr.on('data', (c) => chunks.push(c));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(proc);
    }, options.timeoutS * 1000);
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      child = null;
      const output = Buffer.concat(chunks).toString('utf8');
      writeFileSync(join(logs, `${logName}.log`), `$ node ${args.join(' ')}\n${output}`);
      resolveRun({ code, signal, timedOut, output, seconds: (Date.now() - started) / 1000 });
    });
  });
}

// Reads the runner's TAP output: the summary counts and the failed tests (suites that only report failed
// subtests are left out), each with its failure type and test file.
function parseTap(output) {
  const count = (name) => Number(new RegExp(`^# ${name} (\\d+)$`, 'm').exec(output)?.[1] ?? 0);
  const lines = output.split('\n');
  const failures = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^\s*not ok \d+ - (.*)$/.exec(lines[i]);
    if (!m || / # TODO\b/.test(m[1])) continue; // a known failure (todo) fails nothing
    let type = '';
    let file = '';
    for (let j = i + 1; j < lines.length && !/^\s*(not ok|ok) \d+ |^\s*# Subtest:/.test(lines[j]); j++) {
      type ||= /^\s*failureType: '([^']+)'/.exec(lines[j])?.[1] ?? '';
      file ||= /^\s*location: '([^']+?)(?::\d+:\d+)?'/.exec(lines[j])?.[1] ?? '';
    }
    if (type === 'subtestsFailed') continue;
    failures.push({
      name: m[1].replace(/ # (SKIP|TODO)\b.*$/, '').replace(/\\#/g, '#'),
      type,
      file: file ? basename(file).replace(/\.test\.js$/, '') : '',
    });
  }
  return { pass: count('pass'), fail: count('fail'), cancelled: count('cancelled'), failures };
}

function classify(run) {
  const tap = parseTap(run.output);
  if (run.timedOut) return { result: 'TIMEOUT', detail: `run killed after ${options.timeoutS} s`, tap };
  if (run.code === 2 && run.output.includes('test.mjs: the build failed')) {
    const error = /error TS\d+:.*$/m.exec(run.output)?.[0] ?? 'see the log';
    return { result: 'ERROR', detail: `build failed: ${error}`, tap };
  }
  if (run.code === 0) {
    if (tap.pass === 0) return { result: 'ERROR', detail: 'no test ran (check the filters and pattern)', tap };
    return { result: 'SURVIVED', detail: `${tap.pass} passed`, tap };
  }
  const real = tap.failures.filter((f) => f.type !== 'testTimeoutFailure' && f.type !== 'cancelledByParent');
  if (real.length > 0) return { result: 'KILLED', detail: describeFailures(real), tap };
  if (tap.failures.length > 0) return { result: 'TIMEOUT', detail: describeFailures(tap.failures), tap };
  if (tap.pass + tap.fail === 0)
    return { result: 'ERROR', detail: `runner exited with ${run.code ?? run.signal} before any test ran`, tap };
  return { result: 'KILLED', detail: `runner exited with ${run.code ?? run.signal} (no failed test reported)`, tap };
}

function describeFailures(failures) {
  const first = failures[0];
  const name = first.name.length > 90 ? `${first.name.slice(0, 87)}...` : first.name;
  return `${first.file ? `${first.file}: ` : ''}${name}${failures.length > 1 ? ` (+${failures.length - 1} more)` : ''}`;
}

// ---- baseline: every test file involved passes without mutation ----
if (options.baseline) {
  const filters = [...new Set(selected.flatMap((m) => m.tests))];
  process.stdout.write(`baseline: ${filters.join(' ')} ... `);
  const run = await runTests(filters, null, 'baseline');
  const { result, detail } = classify(run);
  console.log(`${result === 'SURVIVED' ? 'passed' : result} (${detail}, ${run.seconds.toFixed(0)} s)`);
  if (result !== 'SURVIVED') {
    console.error(`mutation-check: the tests fail without any mutation; see ${join(logs, 'baseline.log')}`);
    options.keep = true;
    cleanup();
    process.exit(2);
  }
}

// ---- the mutations, one at a time ----
const results = [];
for (const [index, m] of selected.entries()) {
  const path = join(tree, m.file);
  const original = readFileSync(path, 'utf8');
  process.stdout.write(`[${index + 1}/${selected.length}] ${m.id} (${m.file}) ... `);
  let outcome;
  try {
    writeFileSync(
      path,
      original.replace(m.find, () => m.replace),
    );
    const run = await runTests(m.tests, m.pattern, m.id);
    outcome = { ...classify(run), seconds: run.seconds };
  } finally {
    writeFileSync(path, original);
  }
  console.log(`${outcome.result} in ${outcome.seconds.toFixed(0)} s: ${outcome.detail}`);
  results.push({
    id: m.id,
    protection: m.protection,
    what: m.what,
    file: m.file,
    tests: m.tests,
    pattern: m.pattern ?? null,
    result: outcome.result,
    detail: outcome.detail,
    failed: outcome.tap.failures,
    seconds: Math.round(outcome.seconds),
  });
}

// ---- report ----
const tally = {};
for (const r of results) tally[r.result] = (tally[r.result] ?? 0) + 1;
const summary = Object.entries(tally)
  .map(([k, v]) => `${v} ${k}`)
  .join(', ');
console.log('');
const width = Math.max(...results.map((r) => r.id.length), 2);
console.log(`${'id'.padEnd(width)}  result    time  killed by / detail`);
for (const r of results)
  console.log(`${r.id.padEnd(width)}  ${r.result.padEnd(8)}  ${String(r.seconds).padStart(3)} s  ${r.detail}`);
console.log(`\n${results.length} mutations: ${summary}`);

if (options.json)
  writeFileSync(
    options.json,
    JSON.stringify({ head, overlay: overlaid, date: new Date().toISOString(), results }, null, 2) + '\n',
  );
if (options.markdown) {
  const cell = (s) => String(s).replace(/\|/g, '\\|');
  // The first failed test, as `file` "name" (cut at a word near 60 characters), and how many others failed.
  const killer = (r) => {
    const failed = r.failed.filter((f) => f.type !== 'testTimeoutFailure' && f.type !== 'cancelledByParent');
    if (r.result !== 'KILLED' || failed.length === 0) return r.result === 'KILLED' ? r.detail : '—';
    const { file, name } = failed[0];
    const short = name.length <= 64 ? name : `${name.slice(0, name.lastIndexOf(' ', 60))} …`;
    return `${file ? `${file} ` : ''}"${short}"${failed.length > 1 ? ` (+${failed.length - 1})` : ''}`;
  };
  const rows = results.map(
    (r) => `| \`${r.id}\` | ${cell(r.protection)} | ${cell(r.what)} | ${cell(killer(r))} | ${r.result} |`,
  );
  writeFileSync(
    options.markdown,
    ['| Id | Protection | Mutation | Test that kills it | Result |', '|---|---|---|---|---|', ...rows, ''].join('\n'),
  );
}
cleanup();
process.exit(results.some((r) => r.result === 'SURVIVED') ? 1 : results.some((r) => r.result === 'ERROR') ? 2 : 0);

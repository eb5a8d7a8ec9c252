// `npm test`: check the formatting, type-check and compile the whole tree (src, test, bench), build the package the CLI runs from,
// then run every compiled test file with Node's built-in runner. Extra arguments filter test files by substring;
// an argument `--test-name-pattern=<regexp>` (repeatable) goes to the runner instead and selects tests by name.
// `--no-build` skips the compile and runs what is in build/ already: CI compiles once, then runs the same files on
// each Node binary (`/path/to/node scripts/test.mjs --no-build`; the runner is whichever node runs this script).
// `--no-format` skips the formatting check.
// Nothing is deleted first, so several runs may share the tree; only tests whose .ts source exists are run.
// Exit status: the runner's (0 all passed, 1 a test failed), or 2 when the build itself failed.
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const args = process.argv.slice(2);
if (!args.includes('--no-build')) {
  const require = createRequire(import.meta.url);
  const tsc = require.resolve('typescript/bin/tsc');
  const prettier = require.resolve('prettier/bin/prettier.cjs');
  // Formatting first: a file that `npm run format` would change fails the run (.prettierrc.json, .prettierignore).
  // `--no-format` skips it (the mutation check's edits are not meant to be formatted).
  try {
    if (!args.includes('--no-format'))
      execFileSync(process.execPath, [prettier, '--check', '--log-level=warn', '.'], { stdio: 'inherit' });
  } catch {
    console.error('test.mjs: the files above are not formatted; `npm run format` formats them');
    process.exit(2);
  }
  try {
    execFileSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { stdio: 'inherit' });
    execFileSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' });
  } catch {
    console.error('test.mjs: the build failed (see above)');
    process.exit(2);
  }
}

function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...findTests(path));
    else if (name.endsWith('.test.ts')) out.push(join('build', path.replace(/\.ts$/, '.js')));
  }
  return out;
}
const runnerArgs = args.filter((a) => a.startsWith('--test-name-pattern='));
const filters = args.filter((a) => !a.startsWith('--test-name-pattern=') && a !== '--no-build' && a !== '--no-format');
const files = findTests('test').filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  // Stack traces point at the .ts lines (source maps). The exit guard ends a file whose tests are done but whose
  // process is still kept alive (a test that failed before its cleanup, or leaked), naming what was left open.
  [
    '--enable-source-maps',
    '--import',
    './build/test/helpers/exit-guard.js',
    '--test',
    '--test-concurrency=4',
    '--test-timeout=120000',
    ...runnerArgs,
    ...files,
  ],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);

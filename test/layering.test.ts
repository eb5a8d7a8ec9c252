// The three layers import one way only: api → transport → protocol (errors.ts is a leaf for all). The protocol
// core never reaches for sockets, timers or zlib, so it can be tested by feeding it bytes.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';

const root = new URL('../../', import.meta.url).pathname;

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sources(path));
    else if (name.endsWith('.ts')) out.push(path);
  }
  return out;
}

function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]/g)].map((m) => m[1]!);
}

// The imports that exist at run time: `import type`, `export type` and lists of `type` names vanish when compiled.
function runtimeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(import|export)\s+(type\s+)?([^'";]*?)\s*from\s+['"]([^'"]+)['"]/g)) {
    if (m[2] !== undefined) continue;
    const names = /^\{([^}]*)\}$/.exec(m[3]!.trim());
    if (names !== null && names[1]!.split(',').every((n) => n.trim() === '' || n.trim().startsWith('type '))) continue;
    out.push(m[4]!);
  }
  return out;
}

const IO_MODULES =
  /^(node:)?(net|tls|http|https|http2|zlib|timers|timers\/promises|dgram|fs|child_process|worker_threads)$/;

test('src/protocol is pure: no I/O modules, no timers, no imports from transport or api', () => {
  const files = sources(join(root, 'src/protocol'));
  assert.ok(files.length > 5);
  for (const file of files) {
    const name = relative(root, file);
    for (const spec of imports(file)) {
      assert.ok(!IO_MODULES.test(spec), `${name} imports ${spec}`);
      assert.ok(
        !/\/(transport|api|cli)\//.test(spec) && !spec.startsWith('../transport') && !spec.startsWith('../api'),
        `${name} imports ${spec}`,
      );
    }
    const text = readFileSync(file, 'utf8');
    assert.ok(!/\bset(Timeout|Interval|Immediate)\s*\(/.test(text), `${name} uses a timer`);
    assert.ok(!/process\.nextTick/.test(text), `${name} defers work`);
  }
});

test('src/transport never imports the public api layer', () => {
  for (const file of sources(join(root, 'src/transport'))) {
    for (const spec of imports(file)) {
      assert.ok(!spec.includes('/api/') && !spec.startsWith('../api'), `${relative(root, file)} imports ${spec}`);
      assert.ok(!spec.includes('/cli/'), `${relative(root, file)} imports ${spec}`);
    }
  }
});

test('the core never reaches for the Redis integration (src/redis) or the CLI; src/redis never for the CLI', () => {
  for (const layer of ['src/protocol', 'src/transport', 'src/api']) {
    for (const file of sources(join(root, layer))) {
      for (const spec of imports(file)) {
        assert.ok(!/(^|\/)(redis|cli)\//.test(spec.replace(/^\.\.\//, '')), `${relative(root, file)} imports ${spec}`);
      }
    }
  }
  const redis = sources(join(root, 'src/redis'));
  assert.ok(redis.length > 3);
  for (const file of redis) {
    for (const spec of imports(file))
      assert.ok(!spec.includes('/cli/') && !spec.startsWith('../cli'), `${relative(root, file)} imports ${spec}`);
  }
});

test('src/ws (the ws-compatible API) sits on top: nothing else in the library imports it, and it never imports the CLI', () => {
  for (const dir of ['src/protocol', 'src/transport', 'src/api']) {
    for (const file of sources(join(root, dir))) {
      for (const spec of imports(file)) assert.ok(!/(^|\/)ws\//.test(spec), `${relative(root, file)} imports ${spec}`);
    }
  }
  const files = sources(join(root, 'src/ws'));
  assert.ok(files.length > 3);
  for (const file of files) {
    for (const spec of imports(file)) assert.ok(!spec.includes('/cli/'), `${relative(root, file)} imports ${spec}`);
  }
});

test('errors.ts and protocol/constants.ts are leaves', () => {
  for (const leaf of ['src/errors.ts', 'src/protocol/constants.ts']) {
    assert.deepEqual(imports(join(root, leaf)), [], `${leaf} imports something`);
  }
});

test('the library (outside the CLI) has no runtime dependencies', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  assert.deepEqual(Object.keys(pkg.dependencies ?? {}), []);
  for (const file of sources(join(root, 'src'))) {
    for (const spec of imports(file)) {
      assert.ok(
        spec.startsWith('.') || spec.startsWith('node:'),
        `${relative(root, file)} imports the package ${spec}`,
      );
    }
  }
});

test('no import cycles in src at run time (modules load in one order, each after what it uses)', () => {
  const files = sources(join(root, 'src'));
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const deps = runtimeImports(file)
      .filter((spec) => spec.startsWith('.'))
      .map((spec) => join(file, '..', spec.replace(/\.js$/, '.ts')));
    graph.set(file, deps);
  }
  // Depth-first search; a node met again while on the stack closes a cycle.
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const cycles: string[] = [];
  const visit = (file: string): void => {
    state.set(file, 'open');
    stack.push(file);
    for (const dep of graph.get(file) ?? []) {
      if (!graph.has(dep)) continue;
      if (state.get(dep) === 'open')
        cycles.push([...stack.slice(stack.indexOf(dep)), dep].map((f) => relative(root, f)).join(' -> '));
      else if (!state.has(dep)) visit(dep);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of files) if (!state.has(file)) visit(file);
  assert.deepEqual(cycles, []);
});

test('the command line uses the library only through its public entries (src/index.ts, nopoll/redis)', () => {
  for (const file of sources(join(root, 'src/cli'))) {
    for (const spec of imports(file)) {
      if (!spec.startsWith('.')) continue;
      const entry = spec === '../index.js' || spec === '../redis/index.js';
      assert.ok(entry || /^\.\/[^/]+$/.test(spec), `${relative(root, file)} imports ${spec}`);
    }
  }
});

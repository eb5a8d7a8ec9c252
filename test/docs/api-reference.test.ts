// The reference pages name every export of their entry point: each name exported by src/index.ts and
// src/redis/index.ts (nopoll/redis) appears in docs/api.md as `Name`, and each one of src/sansio.ts in
// docs/sansio.md. A new export without its documentation
// fails here.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

const root = new URL('../../../', import.meta.url).pathname;

/** The names a module exports, following `export * from` into the modules it re-exports. */
function exportedNames(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const names: string[] = [];
  for (const m of text.matchAll(/export\s+(?:type\s+)?\{([^}]*)\}\s*from\s*['"]([^'"]+)['"]/g)) {
    for (const part of m[1]!.split(',')) {
      const name = part
        .trim()
        .replace(/^type\s+/, '')
        .split(/\s+as\s+/)
        .pop()!
        .trim();
      if (name !== '') names.push(name);
    }
  }
  for (const m of text.matchAll(/export\s*\*\s*from\s*['"]([^'"]+)['"]/g)) {
    names.push(...declaredNames(join(file, '..', m[1]!.replace(/\.js$/, '.ts'))));
  }
  for (const m of text.matchAll(
    /^export\s+(?:declare\s+)?(?:abstract\s+)?(?:class|function|const|let|interface|type|enum)\s+(\w+)/gm,
  ))
    names.push(m[1]!);
  return [...new Set(names)];
}

function declaredNames(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [
    ...text.matchAll(
      /^export\s+(?:declare\s+)?(?:abstract\s+)?(?:class|function|const|let|interface|type|enum)\s+(\w+)/gm,
    ),
  ].map((m) => m[1]!);
}

for (const [entry, page] of [
  ['src/index.ts', 'docs/api.md'],
  ['src/sansio.ts', 'docs/sansio.md'],
  ['src/redis/index.ts', 'docs/api.md'],
] as const) {
  test(`every export of ${entry} is documented in ${page}`, () => {
    const doc = readFileSync(join(root, page), 'utf8');
    const names = exportedNames(join(root, entry));
    assert.ok(names.length > 5, `found only ${names.length} exports in ${entry}`);
    // Named as a word anywhere (a table row, a heading, a code block): export names are specific enough.
    const named = (name: string): boolean => new RegExp(`\\b${name}\\b`).test(doc);
    const missing = names.filter((name) => !named(name));
    assert.deepEqual(missing, [], `exported by ${entry} but not named in ${page}`);
  });
}

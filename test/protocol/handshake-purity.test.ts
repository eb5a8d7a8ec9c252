import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

// The handshake layer is pure: bytes in, results out. It may import only these (RFC work, no I/O).
const ALLOWED = new Set(['node:buffer', 'node:crypto', '../../errors.js', '../constants.js', '../limits.js']);

test('handshake sources import nothing but buffer, crypto, errors, constants, limits and each other', () => {
  const dir = join(process.cwd(), 'src', 'protocol', 'handshake');
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));
  assert.ok(files.length >= 6);
  assert.equal(files.includes('index.ts'), false, 'no barrel file');
  for (const file of files) {
    const source = readFileSync(join(dir, file), 'utf8');
    const specifiers = [...source.matchAll(/(?:^|\n)\s*(?:import|export)[^'";]*?from\s*['"]([^'"]+)['"]/g)].map(
      (m) => m[1] as string,
    );
    assert.equal(/\brequire\s*\(|\bimport\s*\(/.test(source), false, `${file} loads modules dynamically`);
    for (const spec of specifiers) {
      const sibling = /^\.\/[a-z-]+\.js$/.test(spec) && files.includes(spec.slice(2).replace(/\.js$/, '.ts'));
      assert.ok(ALLOWED.has(spec) || sibling, `${file} imports ${spec}`);
    }
    assert.doesNotMatch(source, /\b(setTimeout|setInterval|setImmediate|process\.)/, `${file} uses timers or process`);
  }
});

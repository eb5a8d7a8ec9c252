/**
 * `nopoll --version`: the version in the package's package.json, read when asked (never a copy that could
 * drift from it).
 * @packageDocumentation
 */
import { readFileSync } from 'node:fs';

// dist/esm/cli/version.js (and build/src/cli/version.js in the repository's tests) -> the package root.
const PACKAGE_JSON = new URL('../../../package.json', import.meta.url);

/** `nopoll X.Y.Z`. */
export function versionLine(): string {
  const pkg = JSON.parse(readFileSync(PACKAGE_JSON, 'utf8')) as { version?: unknown };
  return `nopoll ${typeof pkg.version === 'string' ? pkg.version : 'unknown'}`;
}

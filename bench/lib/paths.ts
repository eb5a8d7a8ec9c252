/** Locations, resolved from this compiled file (build/bench/lib/paths.js), so any working directory works. */
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** The compiled bench tree (build/bench/). */
export const BENCH_BUILD = fileURLToPath(new URL('../', import.meta.url));
/** The bench source folder, where RESULTS.md and the JSON results go. */
export const BENCH_SOURCE = fileURLToPath(new URL('../../../bench/', import.meta.url));

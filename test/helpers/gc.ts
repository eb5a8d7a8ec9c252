/**
 * A full garbage collection from a test, on Node and on Bun: memory tests sample what is in use, not garbage the
 * collector has not reached yet. Node: `gc` exposed at run time, as `--expose-gc` would. Bun: `Bun.gc(true)`.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type Collect = () => void;
let collect: Collect | null = null;

/** Runs a full, synchronous garbage collection. */
export function fullGc(): void {
  collect ??= findCollector();
  collect();
}

function findCollector(): Collect {
  const bun = (globalThis as { Bun?: { gc(force: boolean): void } }).Bun;
  if (bun !== undefined) return () => bun.gc(true);
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as Collect;
}

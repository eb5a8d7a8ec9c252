/**
 * Tests that need a program from Debian (chromium, redis-server, tinyproxy, danted): on a developer's machine
 * without it they are skipped with the reason; under CI (`CI` set) a missing program fails instead, since CI must
 * install it and a silent skip there would hide the gap.
 */
import { existsSync } from 'node:fs';

/** Null when `binary` exists; otherwise why a test needing it is skipped. Throws under CI. */
export function missing(binary: string, pkg: string): string | null {
  if (existsSync(binary)) return null;
  const reason = `${binary} is missing (apt-get install ${pkg})`;
  if (process.env['CI']) throw new Error(`${reason}: CI must install it`);
  return reason;
}

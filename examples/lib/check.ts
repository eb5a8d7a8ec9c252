// Self-checks shared by the examples: a failed check prints what was wrong and exits with status 1.

/** Exits with status 1, loudly, unless `condition` holds. */
export function check(condition: unknown, what: string): asserts condition {
  if (!condition) fail(what);
}

/** Exits with status 1 unless `actual` and `expected` are the same (compared as JSON). */
export function checkEqual(actual: unknown, expected: unknown, what: string): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) fail(`${what}: expected ${e}, got ${a}`);
}

/** Prints the failure and exits with status 1. */
export function fail(what: string): never {
  console.error(`\nEXAMPLE FAILED: ${what}\n`);
  process.exit(1);
}

/** Fails the example if it has not finished within `ms` (the timer does not keep the process alive). */
export function deadline(ms: number): void {
  setTimeout(() => fail(`not finished within ${ms} ms`), ms).unref();
}

/** Marks success: prints the example's name and "ok". */
export function ok(name: string): void {
  console.log(`${name}: ok`);
}

/**
 * "Did you mean ...?" for the command line: the closest known spelling of a mistyped command, flag or slash
 * command, by edit distance.
 * @packageDocumentation
 */

/**
 * Edit distance between `a` and `b` where a swap of two neighbouring characters counts as one edit (optimal
 * string alignment): `--hedaer` is one edit from `--header`, as a typist sees it.
 */
export function editDistance(a: string, b: string): number {
  // Three rows: the one two back is needed for the swap.
  let before = new Array<number>(b.length + 1).fill(0);
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  let current = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    current[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, before[j - 2]! + 1);
      current[j] = best;
    }
    [before, previous, current] = [previous, current, before];
  }
  return previous[b.length]!;
}

/**
 * The candidate `word` most likely stands for, or null when none is close: the only candidate that starts with
 * it (3 characters at least), else the nearest one within a third of its length (at least 1, at most 3 edits).
 */
export function suggest(word: string, candidates: Iterable<string>): string | null {
  const list = [...candidates];
  if (word.length >= 3) {
    const prefixed = list.filter((c) => c.startsWith(word));
    if (prefixed.length === 1) return prefixed[0]!;
  }
  const limit = Math.min(3, Math.max(1, Math.floor(word.length / 3)));
  let best: string | null = null;
  let bestDistance = limit + 1;
  for (const candidate of list) {
    const distance = editDistance(word, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

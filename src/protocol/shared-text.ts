/**
 * Text that many connections hold the same (a server's Host header, a load balancer's address, a site's Origin):
 * each connection that reads it from the wire gets a new string of its own, which an idle connection then carries
 * for its whole life. Passing it through here keeps one copy. Bounded: short texts only, and at most a few hundred,
 * the table cleared when full, so what a peer sends cannot make it grow.
 * @packageDocumentation
 */

const table = new Map<string, string>();
const TABLE_LIMIT = 256;
const TEXT_LIMIT = 256;

/** @internal `text`, or an equal string already seen (the one kept). */
export function sharedText(text: string): string {
  if (text.length > TEXT_LIMIT) return text;
  const known = table.get(text);
  if (known !== undefined) return known;
  if (table.size >= TABLE_LIMIT) table.clear();
  table.set(text, text);
  return text;
}

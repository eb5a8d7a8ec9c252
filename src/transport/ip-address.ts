/**
 * IP address text to bytes: what a SOCKS5 request carries (RFC 1928 §5) and what `NO_PROXY` CIDR entries compare.
 * @packageDocumentation
 */
import { isIP } from 'node:net';

/**
 * The 4 or 16 bytes of an IPv4 or IPv6 address (RFC 4291 §2.2 text forms, `::` and a trailing dotted IPv4
 * included); null for anything else (a host name, a zone index such as `fe80::1%eth0`).
 */
export function ipBytes(address: string): Buffer | null {
  const family = isIP(address);
  if (family === 4) return Buffer.from(address.split('.').map(Number));
  if (family !== 6 || address.includes('%')) return null;
  let text = address;
  let tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.indexOf('.', lastColon) > 0) {
    // A trailing dotted IPv4 (::ffff:1.2.3.4) fills the last two groups.
    tail = text
      .slice(lastColon + 1)
      .split('.')
      .map(Number);
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const groups = (part: string): number[] => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const left = groups(head);
  const right = rest === undefined ? [] : groups(rest);
  const all =
    rest === undefined ? left : [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  const out = Buffer.alloc(16);
  all.forEach((group, i) => out.writeUInt16BE(group, i * 2));
  if (tail.length === 4) Buffer.from(tail).copy(out, 12);
  return out;
}

/** True when the first `bits` bits of `a` and `b` (same length) are equal. */
export function samePrefix(a: Buffer, b: Buffer, bits: number): boolean {
  if (a.length !== b.length || bits < 0 || bits > a.length * 8) return false;
  const whole = bits >> 3;
  for (let i = 0; i < whole; i++) if (a[i] !== b[i]) return false;
  const left = bits & 7;
  if (left === 0) return true;
  const mask = (0xff << (8 - left)) & 0xff;
  return (a[whole]! & mask) === (b[whole]! & mask);
}

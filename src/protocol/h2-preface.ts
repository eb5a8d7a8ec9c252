/**
 * The HTTP/2 connection preface (RFC 9113 §3.4): what a client with prior knowledge sends first on a cleartext
 * connection, and how a server that also speaks HTTP/1.1 on the port tells it apart. Pure: bytes in, a verdict out.
 * @packageDocumentation
 */

/** `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`: 24 bytes no HTTP/1.1 request can begin with. */
export const H2_PREFACE: Readonly<Uint8Array> = new Uint8Array([
  0x50, 0x52, 0x49, 0x20, 0x2a, 0x20, 0x48, 0x54, 0x54, 0x50, 0x2f, 0x32, 0x2e, 0x30, 0x0d, 0x0a, 0x0d, 0x0a, 0x53,
  0x4d, 0x0d, 0x0a, 0x0d, 0x0a,
]);

/**
 * `'h2'` when `bytes` begin with the whole preface, `'more'` while every byte so far matches its start, `'other'`
 * as soon as one does not (an HTTP/1.1 request, or anything else).
 */
export function classifyPreface(bytes: Uint8Array): 'h2' | 'more' | 'other' {
  const n = Math.min(bytes.length, H2_PREFACE.length);
  for (let i = 0; i < n; i++) if (bytes[i] !== H2_PREFACE[i]) return 'other';
  return bytes.length >= H2_PREFACE.length ? 'h2' : 'more';
}

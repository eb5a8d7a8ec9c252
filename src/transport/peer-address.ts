/**
 * The peer's address of an accepted socket, read without leaving anything on the socket. `socket.remoteAddress`
 * caches a `{ address, family, port }` object on the socket for its whole life (about 90 bytes with its string, on
 * every idle connection); reading the handle's `getpeername` into a throwaway object leaves nothing behind, and
 * `socket.remoteAddress` still answers while the socket lives. The address text is shared between connections from
 * the same address (many come through one proxy or load balancer), so it is kept once, not once per connection.
 * @packageDocumentation
 */
import type { Duplex } from 'node:stream';
import { sharedText } from '../protocol/shared-text.js';

/** A peer's address and port; '' and 0 when unknown. */
export interface PeerAddress {
  address: string;
  port: number;
}

interface PeerHandle {
  getpeername?: (out: { address?: unknown; port?: unknown }) => number;
}

/**
 * The peer of `stream` (a `net.Socket` or `TLSSocket`; anything else answers through `remoteAddress` and
 * `remotePort` when it has them). Reads the handle directly when it can (a TLS socket's handle forwards to the TCP
 * one), so the socket caches nothing; otherwise asks the socket.
 */
export function peerAddress(stream: Duplex): PeerAddress {
  const socket = stream as Duplex & { _handle?: PeerHandle | null; remoteAddress?: string; remotePort?: number };
  const handle = socket._handle;
  if (handle != null && typeof handle.getpeername === 'function') {
    const out: { address?: unknown; port?: unknown } = {};
    if (handle.getpeername(out) === 0 && typeof out.address === 'string' && typeof out.port === 'number') {
      return { address: sharedText(out.address), port: out.port };
    }
  }
  const address = socket.remoteAddress;
  return { address: address === undefined ? '' : sharedText(address), port: socket.remotePort ?? 0 };
}

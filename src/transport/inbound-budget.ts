/**
 * The process-wide budget for inbound data in flight: bytes of partly received messages (every connection's frame
 * and message buffers, compressed or inflating) plus bytes received and not yet read by the application (queued
 * messages, stream reads). Per-connection limits bound one peer; this bounds all of them together, so many
 * connections that each stay under their limits cannot exhaust the process. Past it, a message that needs more
 * room is refused with 1008 while complete small messages keep flowing.
 * @packageDocumentation
 */
import type { InboundBudget } from '../protocol/message-buffer.js';

/** Default budget: 256 MiB, room for 16 conformance-size (16 MiB) messages in flight at once. */
export const DEFAULT_INBOUND_BUDGET = 256 * 1024 * 1024;

let limit = DEFAULT_INBOUND_BUDGET;
let used = 0;
let refused = 0;

/** The process's budget, as the protocol core charges it. */
export const inboundBudget: InboundBudget & {
  /** Charges bytes that are already held and cannot be refused (received data queued for the application). */
  hold(bytes: number): void;
} = {
  take(bytes: number): boolean {
    if (used + bytes > limit) {
      refused++;
      return false;
    }
    used += bytes;
    return true;
  },
  give(bytes: number): void {
    used -= bytes;
  },
  hold(bytes: number): void {
    used += bytes;
  },
};

/**
 * Sets the process-wide budget for inbound data in flight, in bytes (an integer ≥ 1; `Infinity` turns it off).
 * Applies at once: bytes already held stay held.
 */
export function setInboundBudget(bytes: number): void {
  if (bytes !== Infinity && (!Number.isInteger(bytes) || bytes < 1)) {
    throw new RangeError(`the inbound budget must be an integer >= 1 or Infinity, got ${String(bytes)}`);
  }
  limit = bytes;
}

/** The budget, the bytes held against it now, and how many times a message was refused for want of room. */
export function inboundBudgetStats(): { limit: number; used: number; refused: number } {
  return { limit, used, refused };
}

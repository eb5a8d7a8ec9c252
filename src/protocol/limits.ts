/**
 * Every size cap of the protocol core, in one place, with safe defaults.
 * @packageDocumentation
 */

/** Size caps applied to what a peer sends. */
export interface Limits {
  /** Largest frame payload accepted, checked from the header before any buffering (noPoll's max frame size). */
  maxFrameBytes: number;
  /** Largest reassembled message accepted, checked as each frame header arrives. */
  maxMessageBytes: number;
  /** Largest HTTP head (request or response line plus headers) accepted during the opening handshake. */
  maxHeadBytes: number;
  /** Most header lines accepted in the opening handshake. */
  maxHeaderCount: number;
}

/** 16 MiB: noPoll's default frame limit, and the largest message of the conformance suites. */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;

/** noPoll's hard cap on a frame limit (`NOPOLL_MAX_FRAME_SIZE_LIMIT`). */
export const MAX_FRAME_BYTES_LIMIT = 2147483646;

/** Defaults: 16 MiB frames and messages (room for 16 MiB conformance messages), 16 KiB heads, 100 headers. */
export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  maxMessageBytes: DEFAULT_MAX_FRAME_BYTES,
  maxHeadBytes: 16 * 1024,
  maxHeaderCount: 100,
});

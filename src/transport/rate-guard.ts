/**
 * Slow-message protection: a data message (or frame) that has started arriving must keep arriving. While one is
 * under way and the connection is reading (not paused by us: backpressure or inflation), the bytes received over
 * each window must reach a minimum rate, as nginx's `client_body_timeout` and minimum data rates do for request
 * bodies. A peer that trickles a frame (1 byte/s) or stops one byte short of its end would otherwise hold its
 * buffers for ever; an idle timeout cannot tell, since every byte counts as activity.
 *
 * One process-wide timer checks every watched connection once a second; a connection is watched only while a
 * message is under way, so idle connections and messages that arrive whole cost nothing.
 * @packageDocumentation
 */

/** Default minimum rate while a message is under way: 512 bytes/s (a slow mobile upload sends far more). */
export const DEFAULT_MIN_MESSAGE_RATE = 512;
/** Default window over which the rate is measured: 20 s. */
export const DEFAULT_MESSAGE_RATE_WINDOW_MS = 20_000;

/** A connection under watch (the transport). */
export interface RateWatched {
  /** Bytes received since the connection opened. */
  readonly bytesReceived: number;
  /** True while a message is under way and input is not paused by us. */
  readonly awaitingPeer: boolean;
  /** The minimum rate in bytes/s (> 0) and the window in ms. */
  readonly minMessageRate: number;
  readonly messageRateWindowMs: number;
  /** The rate was not met: fail the connection. */
  tooSlow(received: number, windowMs: number): void;
}

// The current window of a watched connection: the guard's tick when it started, and `bytesReceived` then. Kept
// here, not on the connection: only connections with a message under way have one.
interface RateWindow {
  tick: number;
  bytes: number;
}

const watched = new Map<RateWatched, RateWindow>();
let timer: NodeJS.Timeout | null = null;
// Seconds counted by the sweep.
let tick = 0;

/** Starts watching `conn` (a message is under way); a window starts now. No effect when it is already watched. */
export function watchRate(conn: RateWatched): void {
  if (watched.has(conn)) return;
  watched.set(conn, { tick, bytes: conn.bytesReceived });
  if (timer === null) {
    timer = setInterval(sweep, 1000);
    timer.unref();
  }
}

/** Stops watching `conn` (no message under way, or the connection ended). */
export function unwatchRate(conn: RateWatched): void {
  if (!watched.delete(conn) || watched.size > 0 || timer === null) return;
  clearInterval(timer);
  timer = null;
}

function sweep(): void {
  tick++;
  for (const [conn, window] of watched) {
    if (!conn.awaitingPeer) {
      // Paused by us, or between messages: the peer is not to blame; start afresh.
      window.tick = tick;
      window.bytes = conn.bytesReceived;
      continue;
    }
    const elapsed = (tick - window.tick) * 1000;
    if (elapsed < conn.messageRateWindowMs) continue;
    const received = conn.bytesReceived - window.bytes;
    if (received < (conn.minMessageRate * elapsed) / 1000) {
      unwatchRate(conn);
      conn.tooSlow(received, elapsed);
      continue;
    }
    window.tick = tick;
    window.bytes = conn.bytesReceived;
  }
}

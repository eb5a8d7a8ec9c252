/**
 * Idle timeout and heartbeat of one open connection, with a single timer (none when both are off). The driver
 * marks {@link Keepalive.seen} when bytes arrive (one field write per socket chunk, no clock read); the timer
 * reads the clock only when it fires, so received traffic costs nothing more.
 *
 * - Idle: when nothing was received for `idleTimeoutMs`, the host closes the connection (1001).
 * - Heartbeat: when nothing was received for `pingIntervalMs`, the host sends a ping; when still nothing arrives
 *   (a pong or any other byte) within `pongTimeoutMs`, the host drops the connection (1006, no close frame: a
 *   peer that answers no ping would not answer a close either).
 *
 * Activity is noticed at the timer's next firing, so each deadline is met late by at most a quarter of the
 * shortest configured period (the timer's granularity).
 * @packageDocumentation
 */

/** Settings; 0 turns a feature off. */
export interface KeepaliveOptions {
  /** Close after this many ms without receiving anything (0: off). */
  idleTimeoutMs: number;
  /** Ping after this many ms without receiving anything (0: off). */
  pingIntervalMs: number;
  /** Drop the connection when nothing arrives this many ms after a heartbeat ping (default: `pingIntervalMs`). */
  pongTimeoutMs: number;
}

/** What the keepalive asks of its driver. */
export interface KeepaliveHost {
  /** Send a heartbeat ping. */
  keepalivePing(): void;
  /** Nothing received for `idleTimeoutMs`: start the closing handshake. */
  keepaliveIdle(idleTimeoutMs: number): void;
  /** No answer to the heartbeat within `pongTimeoutMs`: drop the connection. */
  keepaliveDead(pongTimeoutMs: number): void;
}

/** One connection's idle timer and heartbeat. See the module comment. */
export class Keepalive {
  /** Set by the driver whenever bytes arrive; cleared by the timer. */
  seen = false;
  readonly #host: KeepaliveHost;
  readonly #idle: number;
  readonly #interval: number;
  readonly #pongTimeout: number;
  readonly #granularity: number;
  #timer: NodeJS.Timeout | null = null;
  #quietSince: number;
  #pingSentAt = -1;
  #stopped = false;

  /** A keepalive for `host`, or null when every feature is off (then nothing at all runs). */
  static create(host: KeepaliveHost, options: KeepaliveOptions): Keepalive | null {
    if (!(options.idleTimeoutMs > 0) && !(options.pingIntervalMs > 0)) return null;
    return new Keepalive(host, options);
  }

  private constructor(host: KeepaliveHost, options: KeepaliveOptions) {
    this.#host = host;
    this.#idle = options.idleTimeoutMs > 0 ? options.idleTimeoutMs : 0;
    this.#interval = options.pingIntervalMs > 0 ? options.pingIntervalMs : 0;
    this.#pongTimeout = this.#interval === 0 ? 0 : options.pongTimeoutMs > 0 ? options.pongTimeoutMs : this.#interval;
    let shortest = Infinity;
    for (const period of [this.#idle, this.#interval, this.#pongTimeout])
      if (period > 0 && period < shortest) shortest = period;
    this.#granularity = Math.max(1, Math.floor(shortest / 4));
    this.#quietSince = Date.now();
    this.#arm(this.#quietSince);
  }

  /** Stops the timer for good (the connection is closing or closed). */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #arm(now: number): void {
    let next = Infinity;
    if (this.#idle > 0) next = this.#quietSince + this.#idle;
    if (this.#interval > 0)
      next = Math.min(
        next,
        this.#pingSentAt >= 0 ? this.#pingSentAt + this.#pongTimeout : this.#quietSince + this.#interval,
      );
    const delay = Math.max(1, Math.min(next - now, this.#granularity));
    this.#timer = setTimeout(Keepalive.#fire, delay, this);
    this.#timer.unref?.();
  }

  static #fire(self: Keepalive): void {
    self.#timer = null;
    const now = Date.now();
    if (self.seen) {
      self.seen = false;
      self.#quietSince = now;
      self.#pingSentAt = -1;
    }
    const quiet = now - self.#quietSince;
    if (self.#idle > 0 && quiet >= self.#idle) return self.#host.keepaliveIdle(self.#idle);
    if (self.#interval > 0) {
      if (self.#pingSentAt >= 0) {
        if (now - self.#pingSentAt >= self.#pongTimeout) return self.#host.keepaliveDead(self.#pongTimeout);
      } else if (quiet >= self.#interval) {
        self.#pingSentAt = now;
        self.#host.keepalivePing();
      }
    }
    // The host may have stopped us from inside a callback (the connection ended).
    if (self.#timer === null && !self.#stopped) self.#arm(now);
  }
}

/**
 * An `EventTarget` whose listeners cannot end the process: Node's `EventTarget` rethrows a listener's exception on
 * the next tick (an uncaught exception); a browser reports it and goes on. Every listener is added through a
 * wrapper that catches and hands the error to {@link GuardedEventTarget.reportListenerError}. Also holds HTML's
 * event handler properties (`onopen`...): one listener per type, added when first set, kept in place when changed.
 * @packageDocumentation
 */

/** A listener as `EventTarget` takes it. */
export type TargetListener = ((event: Event) => void) | { handleEvent(event: Event): void };
/** The options of `addEventListener` / `removeEventListener`. */
export type ListenerOptions = { capture?: boolean; once?: boolean; passive?: boolean; signal?: AbortSignal } | boolean;
type Guard = (this: unknown, event: Event) => void;
type Handler = (this: never, event: Event) => unknown;

/** See the module comment. */
export abstract class GuardedEventTarget extends EventTarget {
  // One wrapper per listener, so that adding it twice and removing it behave as on a plain EventTarget.
  readonly #guards = new WeakMap<TargetListener, Guard>();
  readonly #handlers = new Map<string, { value: Handler; listener: (event: Event) => void }>();

  /** @internal Where a listener's exception goes. */
  protected abstract reportListenerError(error: unknown): void;

  /** As `EventTarget#addEventListener`; a listener that throws is reported, never fatal. */
  override addEventListener(type: string, listener: TargetListener | null, options?: ListenerOptions): void {
    if (listener === null) return;
    let guard = this.#guards.get(listener);
    if (guard === undefined) {
      const target = this;
      guard = function (this: unknown, event: Event): void {
        try {
          if (typeof listener === 'function') listener.call(this, event);
          else listener.handleEvent(event);
        } catch (error) {
          target.reportListenerError(error);
        }
      };
      this.#guards.set(listener, guard);
    }
    super.addEventListener(type, guard, options);
  }

  /** As `EventTarget#removeEventListener`. */
  override removeEventListener(type: string, listener: TargetListener | null, options?: ListenerOptions): void {
    const guard = listener === null ? undefined : this.#guards.get(listener);
    if (guard !== undefined) super.removeEventListener(type, guard, options);
  }

  /** @internal The value of an event handler property, or null. */
  protected eventHandler(type: string): unknown {
    return this.#handlers.get(type)?.value ?? null;
  }

  /** @internal Sets an event handler property; null (or a non-function) removes its listener. */
  protected setEventHandler(type: string, handler: unknown): void {
    const value = typeof handler === 'function' ? (handler as Handler) : null;
    const entry = this.#handlers.get(type);
    if (value === null) {
      if (entry) {
        this.removeEventListener(type, entry.listener);
        this.#handlers.delete(type);
      }
      return;
    }
    if (entry) {
      entry.value = value;
      return;
    }
    const created = {
      value,
      listener: (event: Event): void => {
        // The handler sees the target as `this`; returning false cancels the event (HTML's handler processing).
        const result = (created.value as (this: unknown, event: Event) => unknown).call(this, event);
        if (result === false) event.preventDefault();
      },
    };
    this.#handlers.set(type, created);
    this.addEventListener(type, created.listener);
  }
}

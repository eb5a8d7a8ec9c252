/**
 * A session's receive limits, kept in one object shared by every session with the same ones (one field per
 * connection instead of three: what an idle connection holds is mostly such fields).
 * @packageDocumentation
 */
import type { InboundBudget } from './message-buffer.js';

/** @internal The frame and message limits and the inbound budget of a session; shared, never changed. */
export class SessionLimits {
  private constructor(
    readonly maxFrameBytes: number,
    readonly maxMessageBytes: number,
    readonly budget: InboundBudget | null,
  ) {}

  static #last: SessionLimits | null = null;

  /** The shared limits for these values: those of the last session when they are the same, else new ones. */
  static of(maxFrameBytes: number, maxMessageBytes: number, budget: InboundBudget | null): SessionLimits {
    const last = SessionLimits.#last;
    if (
      last !== null &&
      last.maxFrameBytes === maxFrameBytes &&
      last.maxMessageBytes === maxMessageBytes &&
      last.budget === budget
    ) {
      return last;
    }
    return (SessionLimits.#last = new SessionLimits(maxFrameBytes, maxMessageBytes, budget));
  }
}

/**
 * Writes coalesced per event-loop turn: a stream that gets a shared (published) frame is corked, and every corked
 * stream is uncorked once when the turn ends (one process-wide `setImmediate`). Everything a connection was sent
 * during the turn then leaves in one `writev` instead of one write per message: a subscriber of busy topics costs
 * one syscall per turn, not one per publish.
 * @packageDocumentation
 */

/** A writer holding its stream corked until the turn ends. */
export interface TurnCorked {
  /** The turn ended: uncork the stream. */
  uncorkTurn(): void;
}

let corked: TurnCorked[] = [];
let spare: TurnCorked[] = [];
let scheduled = false;

/** Registers a writer that just corked its stream; it is uncorked once, when the current turn ends. */
export function uncorkWhenTurnEnds(writer: TurnCorked): void {
  corked.push(writer);
  if (!scheduled) {
    scheduled = true;
    setImmediate(uncorkAll);
  }
}

function uncorkAll(): void {
  scheduled = false;
  // Swapped, so a writer corked again by what the uncorks trigger waits for the next turn.
  const list = corked;
  corked = spare;
  spare = list;
  for (let i = 0; i < list.length; i++) list[i]!.uncorkTurn();
  list.length = 0;
}

/**
 * The four ready states of a WebSocket object, shared by the WHATWG `WebSocket` (websocket.ts) and `nopoll/ws`'s
 * `WebSocket`: the same numbers on the class and, as in browsers and `ws`, enumerable on its prototype.
 * @packageDocumentation
 */

/** The opening handshake is under way. */
export const CONNECTING = 0;
/** Messages flow both ways. */
export const OPEN = 1;
/** The closing handshake started. */
export const CLOSING = 2;
/** The connection has ended. */
export const CLOSED = 3;
/** `CONNECTING` (0), `OPEN` (1), `CLOSING` (2) or `CLOSED` (3). */
export type ReadyState = typeof CONNECTING | typeof OPEN | typeof CLOSING | typeof CLOSED;

/** @internal Puts the four constants on a WebSocket class's prototype (WHATWG WebSocket interface, IDL constants). */
export function defineReadyStates(prototype: object): void {
  const states = { CONNECTING, OPEN, CLOSING, CLOSED };
  for (const [name, value] of Object.entries(states))
    Object.defineProperty(prototype, name, { value, enumerable: true });
}

/**
 * The backplane interface: what carries published messages between processes (machines) that share topics. A
 * context's pub/sub works in one process without one; with one, every publish goes through it and every node, the
 * publishing one included, delivers what comes back, in the backplane's order. `nopoll/redis` implements it on
 * Redis (or Valkey); anything that can fan messages out to subscribed nodes can implement it.
 * @packageDocumentation
 */

/** A point in a topic's history: the stream's `epoch` (changes when the history is lost) and an `offset` in it. */
export interface Position {
  /** Names one continuous history of the topic; a different epoch means the offsets restarted. */
  epoch: string;
  /** Offset of the last message seen (offsets count up by one per message within an epoch; 0 before the first). */
  offset: number;
}

/** A message as the backplane hands it to a node. */
export interface BackplaneMessage {
  topic: string;
  data: Buffer;
  /** Binary (else text) message. */
  binary: boolean;
  /** The publisher's compression choice: true, false, or undefined (each connection's threshold). */
  compress: boolean | undefined;
  /** Offset in the topic's history (streams), or null when the backplane keeps none. */
  offset: number | null;
  /** Epoch of that history, or null. */
  epoch: string | null;
  /** The token given to {@link Backplane.publish}, echoed back unchanged (identifies the publishing connection). */
  origin: string | null;
}

/** Messages a node may have missed on a topic. */
export interface GapInfo {
  topic: string;
  /**
   * Why: `'link'` the connection to the backplane dropped (pub/sub mode: what was published meanwhile is lost);
   * `'sequence'` a publisher's messages arrived with a hole; `'history'` the history no longer covered what a node
   * or client missed; `'epoch'` the history was lost (a backplane restarted without its data).
   */
  reason: 'link' | 'sequence' | 'history' | 'epoch';
  /** How many messages are known to be missing, or null when it cannot be known. */
  missed: number | null;
}

/** What a backplane calls on the node it serves. */
export interface BackplaneHost {
  /** A message for a topic this node subscribed to (delivered to its local subscribers in call order). */
  deliver(message: BackplaneMessage): void;
  /** Messages on `topic` may have been lost (see {@link GapInfo}). */
  gap(gap: GapInfo): void;
  /** Something failed in the backplane (reported, never thrown). */
  error(error: Error): void;
}

/** The answer to a history request (streams): the messages after a position, or that they cannot all be had. */
export interface HistoryResult {
  /** True when every message after the position was found (possibly none); false when the history does not cover it. */
  recovered: boolean;
  /** The messages after the position, in order (empty unless recovered). */
  messages: BackplaneMessage[];
  /** The topic's current epoch (null when it has no history yet). */
  epoch: string | null;
  /** The topic's last offset (0 when it has no history). */
  offset: number;
}

/** Presence across nodes: members that joined a topic, expired when their node stops refreshing them. */
export interface BackplanePresence {
  /** A member joined `topic` on this node. */
  join(topic: string, member: string): void;
  /** A member left `topic` on this node. */
  leave(topic: string, member: string): void;
  /** The members present on `topic` on every node. */
  members(topic: string): Promise<string[]>;
}

/**
 * Carries messages between nodes. A node calls `subscribe` when a topic gets its first local subscriber and
 * `unsubscribe` when it loses its last, so it only receives the topics it serves.
 */
export interface Backplane {
  /** Called once, when a context's pub/sub takes this backplane. */
  open(host: BackplaneHost): void;
  /** Start receiving `topic`; resolves once messages published from now on will arrive. */
  subscribe(topic: string): Promise<void>;
  /** Stop receiving `topic`. */
  unsubscribe(topic: string): void;
  /**
   * Sends a message to every node subscribed to `topic`, this one included. Resolves with its position when the
   * backplane keeps a history (null otherwise) once the backplane took it; rejects with a `BackplaneError` when
   * it could not.
   */
  publish(message: Omit<BackplaneMessage, 'offset' | 'epoch'>): Promise<Position | null>;
  /** Streams: the messages of `topic` after `since`, at most `limit` of them (else not recovered). */
  history?(topic: string, since: Position, limit: number): Promise<HistoryResult>;
  /** Presence across nodes, when the backplane offers it. */
  readonly presence?: BackplanePresence;
  /** Stops: no more deliveries; what it opened is closed (a client the user passed stays the user's). */
  close(): Promise<void>;
}

/**
 * One topic with local subscribers: who they are, where its history stands, presence. A topic exists while it has
 * subscribers in this context; the last one leaving deletes it (and with a backplane, this node stops receiving it).
 * @packageDocumentation
 */
import type { Conn } from './conn.js';

// Epochs of in-process topics: unique per topic object, so a topic deleted and made again never reuses a position.
const PROCESS_EPOCH = `${Date.now().toString(36)}${process.pid.toString(36)}`;
let made = 0;

/** @internal A topic and its local subscribers. */
export class Topic {
  readonly name: string;
  readonly subscribers = new Set<Conn>();
  /** Last offset: assigned here in one process, the last one delivered with a backplane. */
  offset = 0;
  /** Epoch of that history (null with a backplane until its first message, or when the backplane keeps none). */
  epoch: string | null;
  /** With a backplane: settles once this node receives the topic's messages. */
  ready: Promise<void> | null = null;
  /** Presence: local member → how many of its subscriptions are on this topic. */
  members: Map<string, number> | null = null;

  constructor(name: string, inProcess: boolean) {
    this.name = name;
    this.epoch = inProcess ? `${PROCESS_EPOCH}.${(++made).toString(36)}` : null;
  }
}

/** @internal Checks a topic name: a non-empty string of at most `maxLength` UTF-16 units. */
export function checkTopic(topic: unknown, maxLength: number): asserts topic is string {
  if (typeof topic !== 'string' || topic.length === 0) throw new TypeError('a topic is a non-empty string');
  if (topic.length > maxLength)
    throw new RangeError(`topic of ${topic.length} characters; at most ${maxLength} (maxTopicLength)`);
}

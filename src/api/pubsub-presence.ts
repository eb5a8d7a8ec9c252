/**
 * Presence: who is on a topic. Members join with `conn.subscribe(topic, { member })` and leave when that
 * subscription ends. Counted per topic in this context (a member with several connections counts once); with a
 * backplane that offers presence, joins and leaves go to it too and the list comes from it, across nodes.
 * @packageDocumentation
 */
import type { BackplanePresence } from './backplane.js';
import type { Conn } from './conn.js';
import type { Topic } from './topic.js';

/** The members present on a topic. */
export interface Presence {
  /** Distinct members. */
  count: number;
  /** Their names, in no particular order. */
  members: string[];
}

/** @internal The presence bookkeeping of one context. */
export class PubSubPresence {
  /** The backplane's presence, when it offers one. */
  backplane: BackplanePresence | null = null;

  /** `conn` joined `topic` as `member`. */
  join(topic: Topic, conn: Conn, member: string): void {
    conn.setMember(topic.name, member);
    const members = (topic.members ??= new Map());
    const count = members.get(member) ?? 0;
    members.set(member, count + 1);
    if (count === 0) this.backplane?.join(topic.name, member);
  }

  /** `conn` left `topic` (if it had joined it as a member, that member leaves once its last connection does). */
  leave(topic: Topic, conn: Conn): void {
    const member = conn.takeMember(topic.name);
    const members = topic.members;
    if (member === undefined || members === null) return;
    const count = (members.get(member) ?? 1) - 1;
    if (count > 0) {
      members.set(member, count);
      return;
    }
    members.delete(member);
    this.backplane?.leave(topic.name, member);
  }

  /** The members of `name`: the backplane's list, or the local one. */
  async list(name: string, topic: Topic | undefined): Promise<Presence> {
    const members =
      this.backplane !== null ? await this.backplane.members(name) : topic?.members ? [...topic.members.keys()] : [];
    return { count: members.length, members };
  }
}

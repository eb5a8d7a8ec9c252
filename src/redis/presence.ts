/**
 * Presence across nodes: each topic has a sorted set whose entries are `NODE|MEMBER`, scored with the time they
 * expire. A node adds its members when they join, removes them when they leave, and pushes their expiry forward
 * every third of the time-to-live; the members of a node that died expire by themselves. Reading drops expired
 * entries first, so the list stays honest whatever happened to the nodes.
 * @packageDocumentation
 */
import type { BackplanePresence } from '../api/backplane.js';
import { BackplaneError } from '../errors.js';
import { command, text, type RedisClientLike, type RedisReply } from './client.js';
import { topicKeys } from './wire.js';

/** Default time-to-live of a member that is no longer refreshed. */
export const DEFAULT_PRESENCE_TTL_MS = 30_000;

/** @internal Presence on Redis for one node. */
export class RedisPresence implements BackplanePresence {
  readonly ttlMs: number;
  readonly #client: RedisClientLike;
  readonly #prefix: string;
  readonly #node: string;
  readonly #report: (error: Error) => void;
  readonly #local = new Map<string, Set<string>>();
  #timer: NodeJS.Timeout | null = null;

  constructor(
    client: RedisClientLike,
    prefix: string,
    node: string,
    ttlMs = DEFAULT_PRESENCE_TTL_MS,
    report: (error: Error) => void,
  ) {
    if (!Number.isSafeInteger(ttlMs) || ttlMs < 100) throw new RangeError('presence ttlMs must be an integer >= 100');
    this.ttlMs = ttlMs;
    this.#client = client;
    this.#prefix = prefix;
    this.#node = node;
    this.#report = report;
  }

  join(topic: string, member: string): void {
    let members = this.#local.get(topic);
    if (members === undefined) this.#local.set(topic, (members = new Set()));
    members.add(member);
    this.#write(topic, [member]);
    if (this.#timer === null) {
      this.#timer = setInterval(() => this.#refresh(), Math.max(50, Math.floor(this.ttlMs / 3)));
      this.#timer.unref();
    }
  }

  leave(topic: string, member: string): void {
    const members = this.#local.get(topic);
    if (members === undefined || !members.delete(member)) return;
    if (members.size === 0) this.#local.delete(topic);
    this.#run(['ZREM', this.#key(topic), this.#entry(member)]);
    if (this.#local.size === 0 && this.#timer !== null) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
  }

  async members(topic: string): Promise<string[]> {
    const key = this.#key(topic);
    const now = Date.now();
    await command(this.#client, ['ZREMRANGEBYSCORE', key, '-inf', String(now)]);
    const reply = await command(this.#client, ['ZRANGEBYSCORE', key, `(${now}`, '+inf']);
    const names = new Set<string>();
    for (const entry of Array.isArray(reply) ? reply : []) {
      const value = text(entry as RedisReply);
      const bar = value === null ? -1 : value.indexOf('|');
      if (bar > 0) names.add(value!.slice(bar + 1));
    }
    return [...names];
  }

  /** Removes this node's members and stops refreshing. */
  async close(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    const removals: Array<Promise<unknown>> = [];
    for (const [topic, members] of this.#local) {
      removals.push(
        command(this.#client, ['ZREM', this.#key(topic), ...[...members].map((m) => this.#entry(m))]).catch(
          () => undefined,
        ),
      );
    }
    this.#local.clear();
    await Promise.all(removals);
  }

  #refresh(): void {
    for (const [topic, members] of this.#local) this.#write(topic, [...members]);
  }

  #write(topic: string, members: string[]): void {
    const key = this.#key(topic);
    const expires = String(Date.now() + this.ttlMs);
    const args = ['ZADD', key];
    for (const member of members) args.push(expires, this.#entry(member));
    this.#run(args);
    this.#run(['PEXPIRE', key, String(this.ttlMs * 2)]);
  }

  #run(args: string[]): void {
    command(this.#client, args).catch((error: unknown) =>
      this.#report(new BackplaneError(`presence: ${String(error)}`, { cause: error })),
    );
  }

  #key(topic: string): string {
    return topicKeys(this.#prefix, topic).presence;
  }

  #entry(member: string): string {
    return `${this.#node}|${member}`;
  }
}

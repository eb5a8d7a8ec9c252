/**
 * Resuming a topic from a position (docs/pubsub.md, "Resuming"): the connection is subscribed at once with its live
 * messages held; once this node receives the topic, the history after the position is asked for (with a backplane
 * that keeps one); then the replay goes out, in order, followed by the held live messages without duplicates.
 * "Recovered" means nothing was missed: every message after the position was replayed. Otherwise nothing is
 * replayed (never a partial history) and the application should reload its state.
 * @packageDocumentation
 */
import type { Backplane, Position } from './backplane.js';
import type { Conn } from './conn.js';
import { recoveredEnvelope } from './pubsub-envelope.js';
import { Published } from './published.js';
import type { DeliveryLimits } from './slow-subscriber.js';
import type { Topic } from './topic.js';

/** The outcome of `conn.resumeTopic`. */
export interface Recovery {
  /** True when every message after the position was sent (possibly none); false when some could not be. */
  recovered: boolean;
  /** Messages replayed from the history. */
  replayed: number;
  /** The topic's position once the replay was sent, or null when it has none (no history kept, or no message yet). */
  position: Position | null;
}

/** @internal Runs a resume for a connection already subscribed (holding) to `topic`. */
export async function resumeTopic(
  topic: Topic,
  conn: Conn,
  since: Position | null,
  backplane: Backplane | null,
  maxRecovered: number,
  limits: DeliveryLimits,
): Promise<Recovery> {
  let recovered = false;
  let replay: Published[] = [];
  let epoch = topic.epoch;
  let offset = topic.offset;
  try {
    if (topic.ready !== null) await topic.ready;
    if (since !== null && backplane === null) {
      // One process keeps no history: recovered only when nothing was published since.
      recovered = since.epoch === topic.epoch && since.offset === topic.offset;
    } else if (since !== null && backplane?.history !== undefined) {
      const history = await backplane.history(topic.name, since, maxRecovered);
      recovered = history.recovered;
      epoch = history.epoch;
      offset = history.offset;
      if (recovered) {
        replay = history.messages.map((m) => new Published(m.topic, m.data, m.binary, m.compress, m.offset, m.epoch));
        if (replay.length > 0) offset = replay[replay.length - 1]!.offset!;
      }
    }
  } catch (error) {
    conn.ctx.log('warning', `pubsub: resuming ${topic.name} for conn ${conn.id}: ${(error as Error).message}`);
    recovered = false;
  }
  if (!conn.isSubscribed(topic.name)) return { recovered: false, replayed: 0, position: null };
  if (since !== null && conn.wantsEnvelopes) conn.sendControl(null, recoveredEnvelope(topic.name, recovered));
  // Held live messages the replay had, or (not recovered) that predate the resume, are not sent again: after a
  // failed recovery the connection gets what is newer than the position the history had then.
  const after = recovered
    ? { epoch: since!.epoch, offset: Math.max(since!.offset, offset) }
    : epoch !== null
      ? { epoch, offset }
      : null;
  conn.releaseTopic(topic.name, replay, after, limits);
  return { recovered, replayed: replay.length, position: epoch === null ? null : { epoch, offset } };
}

/**
 * What compressing without context takeover costs (issue 17): the same realistic JSON traffic compressed the way
 * permessage-deflate does it (raw deflate, a sync flush per message, the trailer removed, RFC 7692 §7.2.1), once
 * keeping the compression context from message to message and once compressing each message on its own, at zlib
 * levels 1 (nopoll's default) and 6 (ws's). Deterministic: the traffic is generated from a fixed seed and no time
 * is measured, so it runs anywhere and always prints the same figures.
 *
 *   node build/bench/deflate-ratio.js [--json]
 */
import { constants, deflateRawSync, createDeflateRaw } from 'node:zlib';

// A small deterministic generator (xorshift32), so the traffic is the same on every run.
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

const WORDS =
  'the a to of and in is it you that for on are with as this be at have or was from but not by what all when we your can there an'.split(
    ' ',
  );
const NAMES = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan', 'judy'];
const SYMBOLS = ['AAPL', 'MSFT', 'GOOG', 'AMZN', 'NVDA', 'META', 'TSLA', 'ORCL'];

/** Chat, market ticks and notifications: the shapes real-time applications send, 300 B to 2 KB each. */
function traffic(count: number, seed = 7): Buffer[] {
  const r = rng(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(r() * list.length)]!;
  const out: Buffer[] = [];
  let ts = 1_733_500_000_000;
  for (let i = 0; i < count; i++) {
    ts += Math.floor(r() * 2000);
    const kind = r();
    let message: unknown;
    if (kind < 0.4) {
      const words = Array.from({ length: 8 + Math.floor(r() * 40) }, () => pick(WORDS)).join(' ');
      message = {
        type: 'chat.message',
        room: `room-${1 + Math.floor(r() * 5)}`,
        id: `m${100000 + i}`,
        ts,
        user: {
          id: Math.floor(r() * 5000),
          name: pick(NAMES),
          avatar: `https://cdn.example.com/avatars/${pick(NAMES)}.png`,
        },
        text: words,
        mentions: [],
        reactions: {},
      };
    } else if (kind < 0.8) {
      const symbol = pick(SYMBOLS);
      const price = 100 + r() * 400;
      message = {
        type: 'market.tick',
        symbol,
        ts,
        bid: +price.toFixed(2),
        ask: +(price + r()).toFixed(2),
        last: +price.toFixed(2),
        volume: Math.floor(r() * 1e6),
        change: +(r() * 4 - 2).toFixed(3),
        exchange: 'NASDAQ',
        currency: 'USD',
      };
    } else {
      const items = Array.from({ length: 3 + Math.floor(r() * 10) }, (_, k) => ({
        id: i * 100 + k,
        title: Array.from({ length: 5 }, () => pick(WORDS)).join(' '),
        read: r() < 0.5,
        url: `https://app.example.com/n/${i * 100 + k}`,
      }));
      message = { type: 'notifications.batch', ts, unread: items.filter((x) => !x.read).length, items };
    }
    out.push(Buffer.from(JSON.stringify(message)));
  }
  return out;
}

/** Bytes on the wire for `messages` compressed without context: each one on its own. */
function withoutContext(messages: readonly Buffer[], level: number): number {
  let total = 0;
  for (const m of messages) total += deflateRawSync(m, { level, finishFlush: constants.Z_SYNC_FLUSH }).length - 4;
  return total;
}

/** Bytes on the wire for `messages` compressed with context takeover: one stream, a sync flush per message. */
async function withContext(messages: readonly Buffer[], level: number, windowBits = 15, memLevel = 8): Promise<number> {
  const stream = createDeflateRaw({ level, windowBits, memLevel, flush: constants.Z_SYNC_FLUSH });
  let total = 0;
  stream.on('data', (chunk: Buffer) => (total += chunk.length));
  for (const m of messages) {
    await new Promise<void>((resolve) => stream.write(m, () => resolve()));
    total -= 4; // §7.2.1: the trailer of each message is removed
  }
  stream.close();
  return total;
}

const messages = traffic(2000);
const raw = messages.reduce((n, m) => n + m.length, 0);
const rows: Array<{ level: number; context: number; noContext: number; smallContext: number }> = [];
for (const level of [1, 6]) {
  rows.push({
    level,
    context: await withContext(messages, level),
    noContext: withoutContext(messages, level),
    smallContext: await withContext(messages, level, 10, 1),
  });
}

if (process.argv.includes('--matrix')) {
  for (const windowBits of [10, 11, 12, 13, 15]) {
    for (const memLevel of [1, 2, 4, 8]) {
      const bytes = await withContext(messages, 1, windowBits, memLevel);
      // zlib's own estimate of a stream's memory: deflate (1 << (windowBits + 2)) + (1 << (memLevel + 9)), inflate 1 << windowBits, plus about 13 KiB of state.
      const memory = (1 << (windowBits + 2)) + (1 << (memLevel + 9)) + (1 << windowBits) + 13 * 1024;
      console.log(
        `window ${windowBits} memLevel ${memLevel}: ${((100 * bytes) / raw).toFixed(1)} % of the bytes, ~${Math.round(memory / 1024)} KiB per connection`,
      );
    }
  }
} else if (process.argv.includes('--json')) {
  console.log(JSON.stringify({ messages: messages.length, raw, rows }));
} else {
  console.log(
    `${messages.length} JSON messages (chat, market ticks, notification batches), ${raw} bytes, ${Math.round(raw / messages.length)} on average`,
  );
  console.log('level  context, 32 KiB window        context, 1 KiB window, memLevel 1   no context');
  for (const { level, context, noContext, smallContext } of rows) {
    const pct = (n: number): string => `${((100 * n) / raw).toFixed(1)} %`;
    console.log(
      `${String(level).padEnd(6)} ${`${context} B (${pct(context)})`.padEnd(31)} ${`${smallContext} B (${pct(smallContext)})`.padEnd(35)} ${noContext} B (${pct(noContext)})`,
    );
  }
}

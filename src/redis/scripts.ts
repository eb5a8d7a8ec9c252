/**
 * The Lua script of a streams-mode publish, and running scripts by hash (EVALSHA) with a fallback to EVAL when
 * Redis does not have it (after a restart). One script call is atomic: the offset, the stream entry and the
 * channel message cannot part.
 * @packageDocumentation
 */
import { createHash } from 'node:crypto';
import { command, type RedisClientLike, type RedisReply } from './client.js';

/**
 * KEYS: stream, meta. ARGV: channel, data, flags, max length, max age (ms), meta ttl (ms), node, seq, prev, origin,
 * new epoch.
 *
 * - meta (a hash): `e` the epoch, `s` the last offset, `n:NODE` = "SEQ:OFFSET" of that node's last append.
 * - A new epoch starts when meta is missing (first publish, or Redis lost the data): the old stream is deleted.
 * - Offsets count up by one; the entry's ID is `0-OFFSET` so an offset finds its entry directly.
 * - Exactly once for a node's retries: a SEQ at or below the node's last one was applied already (answered as
 *   such); a PREV (the node's previous SEQ on this topic) above it means an earlier publish has not arrived yet:
 *   refused with NOPOLL_ORDER, the node sends again in order.
 * - Length bound: MAXLEN ~ (whole macro nodes, cheap). Age bound: the stream expires after max age without a
 *   publish, and readers ignore entries older than it.
 * - The entry holds the data (`d`), flags (`f`), Redis time in ms (`t`) and origin (`o`); the channel message
 *   carries the epoch, offset, flags, origin, then the data (wire.ts).
 * Returns {epoch, offset, duplicate (0/1)}.
 */
export const STREAM_PUBLISH = `
local stream, meta = KEYS[1], KEYS[2]
local epoch = redis.call('HGET', meta, 'e')
if not epoch then
  epoch = ARGV[11]
  redis.call('DEL', stream)
  redis.call('HSET', meta, 'e', epoch, 's', 0)
end
local field = 'n:' .. ARGV[7]
local seq = tonumber(ARGV[8])
local prev = tonumber(ARGV[9])
local record = redis.call('HGET', meta, field)
if record then
  local sep = string.find(record, ':', 1, true)
  local last = tonumber(string.sub(record, 1, sep - 1))
  if seq <= last then
    if seq == last then return {epoch, tonumber(string.sub(record, sep + 1)), 1} end
    return {epoch, 0, 1}
  end
  if prev > last then return redis.error_reply('NOPOLL_ORDER ' .. last) end
end
local offset = redis.call('HINCRBY', meta, 's', 1)
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('XADD', stream, 'MAXLEN', '~', ARGV[4], '0-' .. offset, 'd', ARGV[2], 'f', ARGV[3], 't', ms, 'o', ARGV[10])
local age = tonumber(ARGV[5])
if age > 0 then redis.call('PEXPIRE', stream, age) end
redis.call('HSET', meta, field, seq .. ':' .. offset)
redis.call('PEXPIRE', meta, ARGV[6])
redis.call('PUBLISH', ARGV[1], 'S\\n' .. epoch .. '\\n' .. offset .. '\\n' .. ARGV[3] .. '\\n' .. ARGV[10] .. '\\n' .. ARGV[2])
return {epoch, offset, 0}
`;

/** A script and its SHA1, for EVALSHA. */
export class Script {
  readonly source: string;
  readonly sha: string;

  constructor(source: string) {
    this.source = source;
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  /** Runs it (by hash, or with its text when Redis answers NOSCRIPT). */
  async run(client: RedisClientLike, keys: string[], args: Array<string | Buffer>): Promise<RedisReply> {
    const tail = [String(keys.length), ...keys, ...args];
    try {
      return await command(client, ['EVALSHA', this.sha, ...tail]);
    } catch (error) {
      if (!String((error as Error)?.message ?? error).includes('NOSCRIPT')) throw error;
      return await command(client, ['EVAL', this.source, ...tail]);
    }
  }
}

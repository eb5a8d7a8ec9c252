/**
 * Quick, bounded fuzz run (issue 6 item 3): a fixed seed so a failure reproduces with
 * `npm run fuzz -- --iterations N --seed S`. The long run is scripts/fuzz.mjs.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fuzzCore, fuzzLive } from './fuzzer.js';
import { rawClient, OP } from '../helpers/raw-peer.js';
import { startEchoListener } from '../helpers/ws-peers.js';

const SEED = 0x6e6f706f;

describe('fuzz (quick)', () => {
  it('protocol core, both roles: 400 mutated streams, randomly chunked: no throw, one ending at most, bounded memory', () => {
    const stats = fuzzCore(400, SEED);
    assert.deepEqual(stats.problems, []);
    assert.ok(stats.failedConnections > 0 && stats.messages > 0, 'the run exercised both failures and deliveries');
  });

  it('live listener: 80 mutated handshakes and frame streams: every connection ends, the listener still serves', async (t) => {
    const srv = await startEchoListener({
      handshakeTimeoutMs: 400,
      closeTimeoutMs: 300,
      idleTimeoutMs: 500,
      maxMessageSize: 256 * 1024,
      maxFrameSize: 128 * 1024,
    });
    t.after(() => srv.close());
    const stats = await fuzzLive(srv.port, 80, SEED, 16, 8000);
    assert.deepEqual(stats.problems, []);
    const { peer } = await rawClient(srv.port);
    peer.send({ opcode: OP.TEXT, payload: Buffer.from('alive') });
    assert.equal((await peer.nextFrame(3000)).payload.toString(), 'alive');
    peer.destroy();
  });
});

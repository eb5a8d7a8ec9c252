// Issue 11 item 1: memory follows bytes, never frame count. A peer sends one message as millions of tiny
// fragments (each 1-byte frame is 7 bytes on the wire from a client, 3 from a server); the endpoint, in a child
// process with default options, must answer with the right size and grow by a small multiple of the message, not
// by ~115 bytes per payload byte as when every fragment was kept as its own Buffer. Before the fix, 4 MiB in
// 1-byte fragments grew a server by about 480 MB.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { constants, deflateRawSync } from 'node:zlib';
import { describe, it } from 'node:test';
import { assertPeakBelow, startChild, writeFragments } from '../helpers/memory-peer.js';
import { OP, RawServer, rawClient, RawPeer } from '../helpers/raw-peer.js';

const MiB = 1024 * 1024;

function text(bytes: number): Buffer {
  return Buffer.alloc(bytes, 'abcdefghijklmnopqrstuvwxyz');
}

async function reply(peer: RawPeer, timeoutMs: number): Promise<string> {
  for (;;) {
    const frame = await peer.nextFrame(timeoutMs);
    if (frame.opcode === OP.TEXT) return frame.payload.toString();
    if (frame.opcode === OP.CLOSE)
      throw new Error(`closed with ${frame.payload.readUInt16BE(0)}: ${frame.payload.subarray(2).toString()}`);
  }
}

describe('a server with default options, one message in tiny fragments', () => {
  for (const [name, size, fragment, limit] of [
    ['4 MiB in 1-byte fragments', 4 * MiB, 1, 48 * MiB],
    ['4 MiB in 64-byte fragments', 4 * MiB, 64, 48 * MiB],
    ['16 MiB (the default message limit) in 1-byte fragments', 16 * MiB, 1, 96 * MiB],
  ] as const) {
    it(`${name}: delivered whole, the server grows by at most ${limit / MiB} MiB`, async (t) => {
      const server = await startChild(t, ['server', '{}']);
      const { peer } = await rawClient(server.port);
      t.after(() => peer.destroy());
      const data = text(size);
      await writeFragments(peer.socket, OP.TEXT, data, fragment, { masked: true });
      assert.equal(await reply(peer, 60_000), `size:${size}`);
      const report = await server.report();
      assertPeakBelow(t, report, limit, name);
      assert.equal(report.budget.used, 0, 'nothing is left charged to the inbound budget');
    });
  }

  it('compressed (RSV1 on the first frame, --deflate): 4 MiB of compressed bytes in 1-byte fragments', async (t) => {
    const server = await startChild(t, ['server', JSON.stringify({ perMessageDeflate: true })]);
    const { peer, response } = await rawClient(server.port, {
      extraHeaders: ['Sec-WebSocket-Extensions: permessage-deflate'],
    });
    t.after(() => peer.destroy());
    assert.match(response.headers.get('sec-websocket-extensions') ?? '', /permessage-deflate/);
    const plain = randomBytes(4 * MiB); // incompressible: the compressed message is as large
    const z = deflateRawSync(plain, { finishFlush: constants.Z_SYNC_FLUSH }).subarray(0, -4);
    await writeFragments(peer.socket, OP.BINARY, z, 1, { masked: true, rsv: 0x40 });
    assert.equal(await reply(peer, 60_000), `size:${plain.length}`);
    const report = await server.report();
    assertPeakBelow(t, report, 64 * MiB, 'compressed');
  });

  it('streamed (onMessageStream): 4 MiB in 1-byte fragments reach the consumer, memory bounded', async (t) => {
    const server = await startChild(t, ['server', JSON.stringify({ stream: true })]);
    const { peer } = await rawClient(server.port);
    t.after(() => peer.destroy());
    await writeFragments(peer.socket, OP.BINARY, text(4 * MiB), 1, { masked: true });
    assert.equal(await reply(peer, 60_000), `stream:${4 * MiB}`);
    const report = await server.report();
    assertPeakBelow(t, report, 48 * MiB, 'streamed');
  });
});

describe('a client with default options, against a server that sends tiny fragments', () => {
  it('4 MiB in 1-byte unmasked fragments: delivered whole, the client grows by at most 48 MiB', async (t) => {
    const raw = await RawServer.start();
    t.after(() => raw.close());
    const client = startChild(t, ['client', `ws://127.0.0.1:${raw.port}/`, '{"perMessageDeflate":false}']);
    const peer = RawServer.accept(await raw.next());
    const child = await client;
    const data = text(4 * MiB);
    await writeFragments(peer.socket, OP.TEXT, data, 1, { masked: false });
    assert.equal(await reply(peer, 60_000), `size:${data.length}`);
    const report = await child.report();
    assertPeakBelow(t, report, 48 * MiB, 'client');
  });
});

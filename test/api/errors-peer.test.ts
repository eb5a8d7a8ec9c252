/**
 * Issue 6 item 5, errors (peer protocol violations (both sides)): every failure reaches the user as a typed error with a stable `code` (and, for a peer's
 * fault, the close code that went on the wire); a user handler that throws ends only its own connection (1011) and
 * never the process; logging has levels and a handler, and is off by default.
 *
 * Real sockets on loopback with ephemeral ports: our client against our listener, or either against a raw peer that
 * shapes (and reads) the bytes itself. Every configured timeout is short; every wait is bounded; every context,
 * listener and socket is closed after its test.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Conn } from '../../src/api/conn.js';
import type { ConnOptsInit } from '../../src/api/conn-opts.js';
import {
  ConnectionClosedError,
  InvalidPayloadError,
  MessageTooBigError,
  PolicyViolationError,
  ProtocolError,
  type ErrorCode,
} from '../../src/errors.js';
import { deflateOnce } from '../helpers/deflate.js';
import { OP, RawServer, closeBody, type FrameSpec } from '../helpers/raw-peer.js';
import { withTimeout } from '../helpers/ws-async.js';
import {
  assertError,
  assertLogged,
  nextCloseCode,
  rawPeer,
  rawServer,
  recordedContext,
  rejection,
  startServer,
  trackEscapes,
} from '../helpers/errors.js';

trackEscapes();

// ---------------------------------------------------------------------------------------------------------------
// Protocol violations by the peer

const TOP_BIT_LENGTH = 2 ** 63;

interface PeerFault {
  name: string;
  /** Frames the raw client sends (masked unless the spec says). */
  frames: FrameSpec[];
  opts?: ConnOptsInit;
  /** Extra upgrade request headers. */
  headers?: string[];
  type: abstract new (...args: never[]) => ProtocolError;
  code: ErrorCode;
  closeCode: number;
  limit?: number;
}

const SERVER_FAULTS: PeerFault[] = [
  {
    name: 'unmasked frame from a client',
    frames: [{ opcode: OP.TEXT, payload: 'x', mask: false }],
    type: ProtocolError,
    code: 'NOPOLL_ERR_MASK_REQUIRED',
    closeCode: 1002,
  },
  {
    name: 'reserved opcode 3',
    frames: [{ opcode: 3 }],
    type: ProtocolError,
    code: 'NOPOLL_ERR_INVALID_OPCODE',
    closeCode: 1002,
  },
  {
    name: 'reserved opcode 11 (control)',
    frames: [{ opcode: 11 }],
    type: ProtocolError,
    code: 'NOPOLL_ERR_INVALID_OPCODE',
    closeCode: 1002,
  },
  {
    name: 'RSV1 with no extension',
    frames: [{ opcode: OP.TEXT, rsv: 0x40, payload: 'x' }],
    type: ProtocolError,
    code: 'NOPOLL_ERR_UNEXPECTED_RSV',
    closeCode: 1002,
  },
  {
    name: 'ping of 126 bytes',
    frames: [{ opcode: OP.PING, payload: Buffer.alloc(126) }],
    type: ProtocolError,
    code: 'NOPOLL_ERR_CONTROL_FRAME_TOO_LONG',
    closeCode: 1002,
  },
  {
    name: 'fragmented ping',
    frames: [{ opcode: OP.PING, fin: false }],
    type: ProtocolError,
    code: 'NOPOLL_ERR_FRAGMENTED_CONTROL',
    closeCode: 1002,
  },
  {
    name: 'continuation with no message open',
    frames: [{ opcode: OP.CONT, payload: 'x' }],
    type: ProtocolError,
    code: 'NOPOLL_ERR_UNEXPECTED_CONTINUATION',
    closeCode: 1002,
  },
  {
    name: 'new message inside a fragmented one',
    frames: [
      { opcode: OP.TEXT, fin: false, payload: 'a' },
      { opcode: OP.TEXT, payload: 'b' },
    ],
    type: ProtocolError,
    code: 'NOPOLL_ERR_EXPECTED_CONTINUATION',
    closeCode: 1002,
  },
  {
    name: 'close code 1005 on the wire',
    frames: [{ opcode: OP.CLOSE, payload: closeBody(1005) }],
    type: ProtocolError,
    code: 'NOPOLL_ERR_INVALID_CLOSE_CODE',
    closeCode: 1002,
  },
  {
    name: 'close body of 1 byte',
    frames: [{ opcode: OP.CLOSE, payload: Buffer.from([3]) }],
    type: ProtocolError,
    code: 'NOPOLL_ERR_INVALID_CLOSE_BODY',
    closeCode: 1002,
  },
  {
    name: '64-bit length with its top bit set',
    frames: [{ opcode: OP.BINARY, announce: TOP_BIT_LENGTH }],
    type: ProtocolError,
    code: 'NOPOLL_ERR_INVALID_LENGTH',
    closeCode: 1002,
  },
  {
    name: 'text that is not UTF-8',
    frames: [{ opcode: OP.TEXT, payload: Buffer.from([0xc3, 0x28]) }],
    type: InvalidPayloadError,
    code: 'NOPOLL_ERR_INVALID_UTF8',
    closeCode: 1007,
  },
  {
    name: 'close reason that is not UTF-8',
    frames: [{ opcode: OP.CLOSE, payload: closeBody(1000, Buffer.from([0xff, 0xfe])) }],
    type: InvalidPayloadError,
    code: 'NOPOLL_ERR_INVALID_UTF8',
    closeCode: 1007,
  },
  {
    name: 'frame over maxFrameSize (from its header)',
    frames: [{ opcode: OP.BINARY, announce: 1 << 20 }],
    opts: { maxFrameSize: 1024 },
    type: MessageTooBigError,
    code: 'NOPOLL_ERR_MESSAGE_TOO_BIG',
    closeCode: 1009,
    limit: 1024,
  },
  {
    name: 'fragmented message over maxMessageSize',
    frames: [
      { opcode: OP.BINARY, fin: false, payload: Buffer.alloc(600) },
      { opcode: OP.CONT, payload: Buffer.alloc(600) },
    ],
    opts: { maxMessageSize: 1000 },
    type: MessageTooBigError,
    code: 'NOPOLL_ERR_MESSAGE_TOO_BIG',
    closeCode: 1009,
    limit: 1000,
  },
  {
    name: 'corrupt permessage-deflate data',
    frames: [{ opcode: OP.TEXT, rsv: 0x40, payload: Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00]) }],
    opts: { perMessageDeflate: true },
    headers: ['Sec-WebSocket-Extensions: permessage-deflate'],
    type: ProtocolError,
    code: 'NOPOLL_ERR_INVALID_COMPRESSED_DATA',
    closeCode: 1007,
  },
  {
    name: 'compressed message that inflates past maxMessageSize',
    frames: [{ opcode: OP.BINARY, rsv: 0x40, payload: deflateOnce(Buffer.alloc(256 * 1024)) }],
    opts: { perMessageDeflate: true, maxMessageSize: 64 * 1024 },
    headers: ['Sec-WebSocket-Extensions: permessage-deflate'],
    type: MessageTooBigError,
    code: 'NOPOLL_ERR_MESSAGE_TOO_BIG',
    closeCode: 1009,
    limit: 64 * 1024,
  },
];

describe('peer protocol violations, server side: typed error, its close code on the wire, a warning logged', () => {
  for (const fault of SERVER_FAULTS) {
    it(`${fault.name} → ${fault.type.name} ${fault.code}, close ${fault.closeCode}`, async (t) => {
      const srv = await startServer(t, fault.opts);
      const peer = await rawPeer(t, srv.port, fault.headers);
      const conn = await srv.ready.next(3000, 'server conn');
      peer.sendAll(fault.frames);
      assert.equal(await nextCloseCode(peer), fault.closeCode, 'close code on the wire');
      peer.end();
      const info = await withTimeout(conn.closed, 5000, 'server conn closed');
      const error = assertError(info.error, fault.type, fault.code, { closeCode: fault.closeCode });
      if (fault.limit !== undefined) assert.equal((error as MessageTooBigError).limit, fault.limit);
      assert.equal(info.wasClean, false);
      // Same information through the other channels: the context's onClose, and a wait on the closed connection.
      const ended = await srv.ended.next(3000, 'onClose');
      assert.equal(ended.info, info);
      const waited = assertError(await rejection(conn.nextMsg()), ConnectionClosedError, 'NOPOLL_ERR_CLOSED');
      assert.equal(waited.cause, info.error);
      assertLogged(srv.logs, 'warning', `${fault.code}, close code ${fault.closeCode}`);
    });
  }

  it('ping flood from a peer that does not read: PolicyViolationError 1008 (see hardening-limits.test.ts)', () => {
    // Covered on real sockets in hardening-limits.test.ts; here only the error's shape, as the driver builds it.
    assertError(new PolicyViolationError('ping flood'), PolicyViolationError, 'NOPOLL_ERR_POLICY_VIOLATION', {
      closeCode: 1008,
    });
  });
});

describe('peer ends TCP without a close frame (RFC 6455 §7.1.5)', () => {
  it('the connection ends with 1006, not clean; the server ends its side; the socket keeps one end listener', async (t) => {
    const srv = await startServer(t);
    const peer = await rawPeer(t, srv.port);
    const conn = await srv.ready.next(3000, 'server conn');
    const socket = conn.socket!;
    // Our listener stands in for net.Socket's own (a second one would cost an array per connection).
    assert.equal(socket.listenerCount('end'), 1);
    peer.end();
    const info = await withTimeout(conn.closed, 5000, 'server conn closed');
    assert.deepEqual([info.code, info.wasClean], [1006, false]);
    assert.equal(conn.sendText('late'), -1);
    assert.equal(socket.writable, false);
    await withTimeout(peer.closed, 3000, 'peer socket closed');
  });
});

describe('peer protocol violations, client side (our client, raw server)', () => {
  const CLIENT_FAULTS: Array<{
    name: string;
    frame: FrameSpec;
    type: abstract new (...args: never[]) => ProtocolError;
    code: ErrorCode;
    closeCode: number;
  }> = [
    {
      name: 'masked frame from a server',
      frame: { opcode: OP.TEXT, payload: 'x', mask: true },
      type: ProtocolError,
      code: 'NOPOLL_ERR_UNEXPECTED_MASK',
      closeCode: 1002,
    },
    {
      name: 'text that is not UTF-8',
      frame: { opcode: OP.TEXT, payload: Buffer.from([0xed, 0xa0, 0x80]) },
      type: InvalidPayloadError,
      code: 'NOPOLL_ERR_INVALID_UTF8',
      closeCode: 1007,
    },
    {
      name: 'frame over maxFrameSize',
      frame: { opcode: OP.BINARY, payload: Buffer.alloc(100) },
      type: MessageTooBigError,
      code: 'NOPOLL_ERR_MESSAGE_TOO_BIG',
      closeCode: 1009,
    },
  ];
  for (const fault of CLIENT_FAULTS) {
    it(`${fault.name} → ${fault.type.name} ${fault.code}, close ${fault.closeCode}`, async (t) => {
      const raw = await rawServer(t);
      const { ctx, logs } = recordedContext(t, { closeTimeoutMs: 500 });
      const conn = Conn.connect(ctx, `ws://127.0.0.1:${raw.port}/`, { maxFrameSize: 64 });
      const peer = RawServer.accept(await raw.next());
      await conn.waitUntilReady({ timeoutMs: 3000 });
      const reading = conn.nextMsg();
      peer.send(fault.frame);
      assert.equal(await nextCloseCode(peer), fault.closeCode, 'close code on the wire');
      peer.end();
      const info = await withTimeout(conn.closed, 5000, 'client closed');
      assertError(info.error, fault.type, fault.code, { closeCode: fault.closeCode });
      assert.equal(conn.closeInfo, info);
      // A read that was waiting learns it through a typed rejection whose cause is the violation.
      const waited = assertError(await rejection(reading), ConnectionClosedError, 'NOPOLL_ERR_CLOSED');
      assert.equal(waited.cause, info.error);
      assertLogged(logs, 'warning', fault.code);
    });
  }
});

/**
 * The micro-benchmark cases: the same input through ws's internal function and through nopoll's (via the
 * adapter), one operation at a time. Where an operation unmasks in place, binary inputs are simply fed again
 * (payload bytes do not matter to a binary parser); text inputs are restored from a template first, on both sides.
 */
import { buildClientFrame, OP_BINARY, OP_TEXT, payloadOf, repeatFrame } from '../loadgen/frames.js';
import type { MicroCase, Variant } from './harness.js';
import * as nopoll from './nopoll-core.js';
import { WsReceiverClass, wsBufferUtil, wsBufferUtilJs, wsSender, wsValidation } from './ws-core.js';

const MASK = Buffer.from([0x5a, 0xc3, 0x96, 0x1e]);
const KiB = 1024;
const MiB = 1024 * 1024;

/** Valid UTF-8 of exactly `size` bytes mixing 1- to 4-byte sequences. */
export function textOf(size: number): Buffer {
  const pieces = ['hello world ', 'café ', 'naïve ', '€100 ', 'κόσμε ', '日本語 ', '😀 ', 'plain ascii text '].map(
    (s) => Buffer.from(s, 'utf8'),
  );
  const out = Buffer.alloc(size, 0x20);
  for (let o = 0, i = 0; ; i++) {
    const piece = pieces[i % pieces.length]!;
    if (o + piece.length > size) break;
    piece.copy(out, o);
    o += piece.length;
  }
  return out;
}

function sizeName(bytes: number): string {
  return bytes >= MiB ? `${bytes / MiB} MiB` : bytes >= KiB ? `${bytes / KiB} KiB` : `${bytes} B`;
}

// ---- mask -------------------------------------------------------------------------------------------------------

function maskCase(size: number): MicroCase {
  const input = payloadOf(size);
  const maskedCopy = (apply: (b: Buffer) => void) => (): Buffer => {
    const copy = Buffer.from(input);
    apply(copy);
    return copy;
  };
  const variant = (impl: string, apply: (b: Buffer) => void): Variant => ({
    impl,
    make: () => {
      const work = Buffer.from(input);
      return {
        run: () => {
          apply(work);
          return work[0]!;
        },
        output: maskedCopy(apply),
      };
    },
  });
  return {
    group: 'mask',
    name: `unmask ${sizeName(size)} in place`,
    bytesPerOp: size,
    variants: [
      variant('ws (bufferutil)', (b) => wsBufferUtil.unmask(b, MASK)),
      variant('ws (js)', (b) => wsBufferUtilJs.unmask(b, MASK)),
      variant('nopoll', (b) => nopoll.applyMask(b, MASK)),
    ],
  };
}

// ---- parse ------------------------------------------------------------------------------------------------------

/** A parse case: `chunks` are fed in order per operation; `restore` copies a template back first (text). */
function parseCase(name: string, chunks: Buffer[], restore: boolean): MicroCase {
  const templates = chunks.map((c) => Buffer.from(c));
  const bytesPerOp = chunks.reduce((sum, c) => sum + c.length, 0);
  const variant = (
    impl: string,
    makeParser: (onMessage: (payloadLength: number) => void) => (chunk: Buffer) => void,
  ): Variant => ({
    impl,
    make: () => {
      let messages = 0;
      const push = makeParser(() => {
        messages++;
      });
      const work = templates.map((t) => Buffer.from(t));
      return {
        run: () => {
          for (let i = 0; i < work.length; i++) {
            if (restore) templates[i]!.copy(work[i]!);
            push(work[i]!);
          }
          return messages;
        },
        output: () => {
          let count = 0;
          let bytes = 0;
          const fresh = makeParser((length) => {
            count++;
            bytes += length;
          });
          for (const t of templates) fresh(Buffer.from(t));
          return `${count} messages, ${bytes} bytes`;
        },
      };
    },
  });
  return {
    group: 'parse',
    name,
    bytesPerOp,
    variants: [
      variant('ws', (onMessage) => {
        const receiver = new WsReceiverClass({
          isServer: true,
          maxPayload: 0,
          skipUTF8Validation: false,
          allowSynchronousEvents: true,
        });
        let failure: Error | null = null;
        receiver.on('message', (data) => onMessage(data.length));
        receiver.on('error', (error) => {
          failure = error;
        });
        return (chunk) => {
          if (failure !== null) throw failure;
          receiver.write(chunk);
        };
      }),
      variant('nopoll', (onMessage) => {
        const parser = nopoll.createServerParser((_opcode, payload) => onMessage(payload.length));
        return (chunk) => parser.push(chunk);
      }),
    ],
  };
}

function splitInto(buf: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let o = 0; o < buf.length; o += size) out.push(buf.subarray(o, Math.min(o + size, buf.length)));
  return out;
}

// ---- encode -----------------------------------------------------------------------------------------------------

function encodeCase(size: number, masked: boolean): MicroCase {
  const payload = payloadOf(size);
  const wsOptions = masked
    ? {
        fin: true,
        opcode: OP_BINARY,
        mask: true,
        readOnly: true,
        rsv1: false,
        maskBuffer: Buffer.from(MASK),
        generateMask: () => {},
      }
    : { fin: true, opcode: OP_BINARY, mask: false, readOnly: false, rsv1: false };
  const variant = (impl: string, encode: () => Uint8Array[]): Variant => ({
    impl,
    make: () => ({
      run: () => encode().length,
      output: () => encode().map((b) => Uint8Array.from(b)),
    }),
  });
  return {
    group: 'encode',
    name: masked ? `client frame, ${sizeName(size)}, masked copy` : `server frame, ${sizeName(size)}`,
    bytesPerOp: size,
    variants: [
      variant('ws', () => wsSender.frame(payload, wsOptions)),
      variant('nopoll', () => nopoll.encodeFrame(OP_BINARY, payload, masked ? MASK : null)),
    ],
  };
}

// ---- UTF-8 ------------------------------------------------------------------------------------------------------

function utf8Case(size: number): MicroCase {
  const text = textOf(size);
  return {
    group: 'utf8',
    name: `validate ${sizeName(size)} text`,
    bytesPerOp: size,
    variants: [
      {
        impl: 'ws',
        make: () => ({
          run: () => (wsValidation.isValidUTF8(text) ? 1 : 0),
          output: () => wsValidation.isValidUTF8(text),
        }),
      },
      {
        impl: 'nopoll',
        make: () => ({ run: () => (nopoll.isValidUtf8(text) ? 1 : 0), output: () => nopoll.isValidUtf8(text) }),
      },
    ],
  };
}

function utf8StreamCase(size: number, fragment: number): MicroCase {
  const text = textOf(size);
  const fragments = splitInto(text, fragment);
  const streamed = (): boolean => {
    const stream = nopoll.createUtf8Stream();
    for (const f of fragments) if (!stream.push(f)) return false;
    return stream.end();
  };
  return {
    group: 'utf8',
    name: `validate ${sizeName(size)} text in ${fragment} B pieces (ws: whole, after reassembly)`,
    bytesPerOp: size,
    variants: [
      {
        impl: 'ws',
        make: () => ({
          run: () => (wsValidation.isValidUTF8(text) ? 1 : 0),
          output: () => wsValidation.isValidUTF8(text),
        }),
      },
      { impl: 'nopoll', make: () => ({ run: () => (streamed() ? 1 : 0), output: streamed }) },
    ],
  };
}

export function microCases(): MicroCase[] {
  const binary64 = buildClientFrame(OP_BINARY, payloadOf(64));
  const text64 = buildClientFrame(OP_TEXT, textOf(64));
  const binary16k = buildClientFrame(OP_BINARY, payloadOf(16 * KiB));
  const binary1m = buildClientFrame(OP_BINARY, payloadOf(MiB));
  return [
    maskCase(64),
    maskCase(16 * KiB),
    maskCase(MiB),
    parseCase('64 x 64 B binary frames in one chunk', [repeatFrame(binary64, 64)], false),
    parseCase('64 x 64 B text frames in one chunk', [repeatFrame(text64, 64)], true),
    parseCase('4 x 16 KiB binary frames in one chunk', [repeatFrame(binary16k, 4)], false),
    parseCase('1 MiB binary frame in 64 KiB chunks', splitInto(binary1m, 64 * KiB), false),
    encodeCase(64, false),
    encodeCase(16 * KiB, false),
    encodeCase(16 * KiB, true),
    utf8Case(64),
    utf8Case(16 * KiB),
    utf8Case(MiB),
    utf8StreamCase(MiB, 16_381),
  ];
}

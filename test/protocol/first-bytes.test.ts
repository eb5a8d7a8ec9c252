// The port-sharing classifier: first bytes of a connection -> tls / http / other / more.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifyFirstBytes, MAX_SNIFF_BYTES } from '../../src/protocol/first-bytes.js';

const b = (...bytes: number[]): Buffer => Buffer.from(bytes);
const s = (text: string): Buffer => Buffer.from(text, 'latin1');

describe('classifyFirstBytes', () => {
  it('needs bytes', () => {
    assert.equal(classifyFirstBytes(Buffer.alloc(0)), 'more');
  });

  it('recognizes TLS handshake records for SSL 3.0 up to the TLS 1.3 record versions', () => {
    for (const minor of [0, 1, 2, 3, 4])
      assert.equal(classifyFirstBytes(b(0x16, 0x03, minor)), 'tls', `minor ${minor}`);
    // A real ClientHello record header goes on with the length and the handshake type (1).
    assert.equal(classifyFirstBytes(b(0x16, 0x03, 0x01, 0x02, 0x00, 0x01)), 'tls');
  });

  it('waits for the third byte of a TLS record header, and refuses other versions', () => {
    assert.equal(classifyFirstBytes(b(0x16)), 'more');
    assert.equal(classifyFirstBytes(b(0x16, 0x03)), 'more');
    assert.equal(classifyFirstBytes(b(0x16, 0x02)), 'other');
    assert.equal(classifyFirstBytes(b(0x16, 0x03, 0x05)), 'other');
    assert.equal(classifyFirstBytes(b(0x17, 0x03, 0x03)), 'other'); // application data, not a handshake
  });

  it('recognizes "GET " and waits while the bytes are a prefix of it', () => {
    assert.equal(classifyFirstBytes(s('GET / HTTP/1.1\r\n')), 'http');
    assert.equal(classifyFirstBytes(s('GET ')), 'http');
    assert.equal(classifyFirstBytes(s('G')), 'more');
    assert.equal(classifyFirstBytes(s('GE')), 'more');
    assert.equal(classifyFirstBytes(s('GET')), 'more');
  });

  it('answers "other" as soon as a byte cannot start either', () => {
    assert.equal(classifyFirstBytes(s('hello\n')), 'other');
    assert.equal(classifyFirstBytes(s('h')), 'other');
    assert.equal(classifyFirstBytes(s('GETX')), 'other');
    assert.equal(classifyFirstBytes(s('GE\n')), 'other');
    assert.equal(classifyFirstBytes(s('get / HTTP/1.1')), 'other'); // methods are case-sensitive
    assert.equal(classifyFirstBytes(s('POST / HTTP/1.1')), 'other');
    assert.equal(classifyFirstBytes(b(0x00)), 'other');
  });

  it(`never asks for more than ${MAX_SNIFF_BYTES} bytes`, () => {
    for (let first = 0; first < 256; first++) {
      for (const second of [0x00, 0x03, 0x45, 0xff]) {
        const bytes = b(first, second, 0x01, 0x20, 0x00);
        assert.notEqual(classifyFirstBytes(bytes.subarray(0, MAX_SNIFF_BYTES)), 'more');
      }
    }
  });

  it('reads the bytes it is given without changing them, from any Uint8Array view', () => {
    const backing = new Uint8Array([0xff, 0x47, 0x45, 0x54, 0x20, 0xff]);
    const view = backing.subarray(1, 5);
    assert.equal(classifyFirstBytes(view), 'http');
    assert.deepEqual([...backing], [0xff, 0x47, 0x45, 0x54, 0x20, 0xff]);
  });
});

/**
 * ws's internals, loaded from node_modules/ws/lib by file path (its package exports do not expose them): the
 * Receiver (frame parser), Sender.frame (frame encoder), buffer-util (mask/unmask, with bufferutil when it loads)
 * and validation (UTF-8). buffer-util is loaded a second time with WS_NO_BUFFER_UTIL=1 to get ws's pure JavaScript
 * masking as well; the Receiver and Sender keep the first (bufferutil) copy, as in a normal ws install.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const lib = join(dirname(require.resolve('ws')), 'lib');

export interface WsBufferUtil {
  mask(source: Buffer, mask: Buffer, output: Buffer, offset: number, length: number): void;
  unmask(buffer: Buffer, mask: Buffer): void;
  concat(list: Buffer[], totalLength: number): Buffer;
}

export interface WsReceiver {
  on(event: 'message', listener: (data: Buffer, isBinary: boolean) => void): this;
  on(event: 'error', listener: (error: Error) => void): this;
  write(chunk: Buffer): boolean;
}

export interface WsReceiverOptions {
  isServer: boolean;
  maxPayload: number;
  skipUTF8Validation: boolean;
  allowSynchronousEvents: boolean;
}

export interface WsFrameOptions {
  fin: boolean;
  opcode: number;
  mask: boolean;
  readOnly: boolean;
  rsv1: boolean;
  maskBuffer?: Buffer;
  generateMask?: (mask: Buffer) => void;
}

function loadBufferUtils(): { native: WsBufferUtil; js: WsBufferUtil } {
  const path = join(lib, 'buffer-util.js');
  const saved = process.env['WS_NO_BUFFER_UTIL'];
  delete process.env['WS_NO_BUFFER_UTIL'];
  delete require.cache[path];
  const native = require(path) as WsBufferUtil;
  const entry = require.cache[path];
  delete require.cache[path];
  process.env['WS_NO_BUFFER_UTIL'] = '1';
  const js = require(path) as WsBufferUtil;
  if (saved === undefined) delete process.env['WS_NO_BUFFER_UTIL'];
  else process.env['WS_NO_BUFFER_UTIL'] = saved;
  require.cache[path] = entry;
  return { native, js };
}

// Order matters: buffer-util first (restoring the bufferutil copy in the cache), then the modules that use it.
const bufferUtils = loadBufferUtils();
export const wsBufferUtil: WsBufferUtil = bufferUtils.native;
export const wsBufferUtilJs: WsBufferUtil = bufferUtils.js;
export const WsReceiverClass = require(join(lib, 'receiver.js')) as new (options: WsReceiverOptions) => WsReceiver;
export const wsSender = require(join(lib, 'sender.js')) as { frame(data: Buffer, options: WsFrameOptions): Buffer[] };
export const wsValidation = require(join(lib, 'validation.js')) as { isValidUTF8(buf: Buffer): boolean };

/** What ws's masking runs on here: the bufferutil native addon, its JavaScript fallback, or ws's own loop. */
export const wsMaskingCode: string = Object.keys(require.cache).some(
  (k) => k.includes('/bufferutil/') && k.endsWith('.node'),
)
  ? 'bufferutil native'
  : Object.keys(require.cache).some((k) => k.includes('/bufferutil/'))
    ? 'bufferutil JS fallback'
    : 'ws JavaScript';

/** ws's package version. */
export const wsVersion: string = (require(join(lib, '..', 'package.json')) as { version: string }).version;

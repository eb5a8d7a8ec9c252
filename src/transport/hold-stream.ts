/**
 * The listeners of a short exchange held on a stream before a session owns it (a proxy's answer, the first bytes
 * of a shared port): each chunk, the end (the peer ended its side, or the stream closed), an error.
 * @packageDocumentation
 */
import type { Duplex } from 'node:stream';

/** Listens on `stream` for an exchange; returns the function that removes the four listeners again. */
export function holdStream(
  stream: Duplex,
  onData: (chunk: Buffer) => void,
  onEnd: () => void,
  onError: (error: Error) => void,
): () => void {
  stream.on('data', onData);
  stream.on('end', onEnd);
  stream.on('close', onEnd);
  stream.on('error', onError);
  return () => {
    stream.off('data', onData);
    stream.off('end', onEnd);
    stream.off('close', onEnd);
    stream.off('error', onError);
  };
}

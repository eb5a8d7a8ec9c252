/**
 * WebSockets over cleartext HTTP/2 for the load generator (RFC 8441): `h2Sessions` HTTP/2 connections with prior
 * knowledge, windows raised past the 64 KiB default (1 MiB per stream, 16 MiB per connection, as nopoll's own client
 * does), then one extended CONNECT stream per WebSocket, spread round-robin over them. A stream is a Duplex, so the
 * echo, idle and rate loops drive it exactly as they drive a socket.
 */
import { connect, type ClientHttp2Session } from 'node:http2';
import { connect as netConnect } from 'node:net';
import type { Target } from '../lib/jobs.js';
import type { OpenConnection } from './connect.js';
import { DEFLATE_OFFER } from './frames.js';

const STREAM_WINDOW = 1024 * 1024;
const SESSION_WINDOW = 16 * 1024 * 1024;

function openSession(target: Target, timeoutMs: number): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = connect(`http://${target.host}:${target.port}`, {
      // Node's HTTP/2 client leaves Nagle on; like every socket of the load generator, this one sends at once.
      createConnection: () => netConnect({ host: target.host, port: target.port, noDelay: true }),
      settings: { enablePush: false, initialWindowSize: STREAM_WINDOW },
      peerMaxConcurrentStreams: 100_000,
    });
    const timer = setTimeout(() => fail(new Error('no HTTP/2 SETTINGS in time')), timeoutMs);
    const fail = (error: Error): void => {
      clearTimeout(timer);
      session.destroy();
      reject(error);
    };
    session.once('error', fail);
    session.once('remoteSettings', (settings) => {
      clearTimeout(timer);
      session.off('error', fail);
      session.on('error', () => undefined);
      if (settings.enableConnectProtocol !== true) return fail(new Error('the server did not enable extended CONNECT'));
      session.setLocalWindowSize(SESSION_WINDOW);
      resolve(session);
    });
  });
}

function openStream(
  session: ClientHttp2Session,
  target: Target,
  deflate: boolean,
  timeoutMs: number,
): Promise<OpenConnection> {
  return new Promise((resolve, reject) => {
    const stream = session.request(
      {
        ':method': 'CONNECT',
        ':protocol': 'websocket',
        ':scheme': 'http',
        ':path': '/',
        ':authority': `${target.host}:${target.port}`,
        'sec-websocket-version': '13',
        ...(deflate ? { 'sec-websocket-extensions': DEFLATE_OFFER } : {}),
      },
      { endStream: false },
    );
    const timer = setTimeout(() => fail(new Error('no answer to the extended CONNECT in time')), timeoutMs);
    const fail = (error: Error): void => {
      clearTimeout(timer);
      stream.destroy();
      reject(error);
    };
    stream.once('error', fail);
    stream.once('close', () => fail(new Error(`stream closed before the answer (code ${stream.rstCode})`)));
    stream.once('response', (headers) => {
      clearTimeout(timer);
      stream.removeAllListeners('close');
      stream.off('error', fail);
      const status = Number(headers[':status']);
      if (status !== 200) return fail(new Error(`extended CONNECT answered ${status}`));
      if (deflate && !/^permessage-deflate/.test(String(headers['sec-websocket-extensions'] ?? ''))) {
        return fail(new Error('the server did not accept permessage-deflate (is compression on?)'));
      }
      resolve({ socket: stream, leftover: Buffer.alloc(0), onBytes: null });
    });
  });
}

/** Opens `count` WebSockets over `target.h2Sessions` HTTP/2 connections, `concurrency` handshakes at a time. */
export async function openH2Many(
  target: Target,
  count: number,
  concurrency: number,
  deflate = false,
): Promise<OpenConnection[]> {
  const sessions = await Promise.all(
    Array.from({ length: Math.max(1, target.h2Sessions ?? 1) }, () => openSession(target, 10_000)),
  );
  const open: OpenConnection[] = [];
  const state = { next: 0, failure: null as Error | null };
  const lane = async (): Promise<void> => {
    while (state.failure === null && state.next < count) {
      const session = sessions[state.next % sessions.length]!;
      state.next++;
      try {
        open.push(await openStream(session, target, deflate, 10_000));
      } catch (error) {
        state.failure ??= error instanceof Error ? error : new Error(String(error));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  if (state.failure !== null) {
    for (const session of sessions) session.destroy();
    throw new Error(`opened ${open.length} of ${count} WebSockets over HTTP/2, then: ${state.failure.message}`);
  }
  // The connections go when the streams are gone (the load generator exits after its job anyway).
  for (const session of sessions) session.unref();
  return open;
}

/**
 * Listening on a unix domain socket path, stale socket files included: a process that dies without closing its
 * listener leaves the socket file behind, and the next `listen` on that path fails with EADDRINUSE although nobody
 * accepts on it. Such a file (a socket that refuses connections) is removed and the listen tried again; a socket
 * someone still accepts on, or a file that is not a socket, is never touched. Node removes the file itself when the
 * server closes.
 * @packageDocumentation
 */
import { lstat, unlink } from 'node:fs';
import { connect, type Server } from 'node:net';

/** How to listen on a path. */
export interface UnixListenOptions {
  /** The socket file's path. */
  path: string;
  /** Listen backlog. */
  backlog: number;
  /** Remove a stale socket file left at `path` (default true). */
  removeStale: boolean;
  /** Make the socket readable / writable by all users (Node's `readableAll` / `writableAll`). */
  readableAll?: boolean | undefined;
  writableAll?: boolean | undefined;
}

/** Starts `server` listening on `options.path`; `done` once, with Node's error when it cannot. */
export function listenUnix(server: Server, options: UnixListenOptions, done: (error: Error | null) => void): void {
  let retried = false;
  const attempt = (): void => {
    const onError = (error: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      if (error.code !== 'EADDRINUSE' || !options.removeStale || retried) return done(error);
      retried = true;
      removeIfStale(options.path, (removed) => (removed ? attempt() : done(error)));
    };
    const onListening = (): void => {
      server.off('error', onError);
      done(null);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({
      path: options.path,
      backlog: options.backlog,
      ...(options.readableAll ? { readableAll: true } : {}),
      ...(options.writableAll ? { writableAll: true } : {}),
    });
  };
  attempt();
}

// Reports true once `path` was a socket that refused a connection (nobody listens) and was removed.
function removeIfStale(path: string, done: (removed: boolean) => void): void {
  lstat(path, (error, stats) => {
    if (error || !stats.isSocket()) return done(false);
    const probe = connect({ path });
    probe.once('connect', () => {
      probe.destroy();
      done(false);
    });
    probe.once('error', (failure: NodeJS.ErrnoException) => {
      probe.destroy();
      if (failure.code !== 'ECONNREFUSED') return done(false);
      unlink(path, (unlinkError) => done(unlinkError === null || unlinkError.code === 'ENOENT'));
    });
  });
}

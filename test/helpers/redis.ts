/**
 * A real `redis-server` (Debian's, installed by `.ci/run`) for one test: started on a free loopback port with its
 * own temporary directory, stopped (and the directory removed) when the test ends. It can be killed with SIGKILL
 * and started again on the same port and directory (chaos tests); with `persist`, every write is on disk before
 * Redis answers it (appendonly, fsync always), so a SIGKILL loses nothing Redis confirmed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { createClient } from 'redis';
import { missing } from './installed.js';

/** Where Debian installs it. */
export const REDIS_SERVER = '/usr/bin/redis-server';

/** True when redis-server is installed (under CI, its absence throws: installed.ts). */
export function hasRedis(): boolean {
  return missing(REDIS_SERVER, 'redis-server') === null;
}

/** A redis-server run by a test. */
export interface RedisServer {
  port: number;
  url: string;
  dir: string;
  /** Kills it with SIGKILL (no shutdown, no save) and waits until it is gone. */
  kill(): Promise<void>;
  /** Starts it again on the same port and directory (after `kill` or `stop`). */
  restart(): Promise<void>;
  /** Stops it (SIGTERM) and waits. */
  stop(): Promise<void>;
  /** A node-redis client, connected; closed when the test ends. Reconnects quickly (every 50 ms). */
  client(): Promise<ReturnType<typeof createClient>>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

/** Starts a redis-server for this test. */
export async function startRedis(t: TestContext, options: { persist?: boolean } = {}): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'nopoll-redis-'));
  let port = 0;
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  const clients: Array<ReturnType<typeof createClient>> = [];

  const launch = async (): Promise<void> => {
    const args = [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--save',
      '',
      '--daemonize',
      'no',
      '--protected-mode',
      'no',
      '--loglevel',
      'warning',
    ];
    if (options.persist) args.push('--appendonly', 'yes', '--appendfsync', 'always');
    const proc = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    let output = '';
    proc.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    proc.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    // Ready once it accepts a PING.
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`redis-server exited: ${output}`);
      const probe = createClient({
        url: `redis://127.0.0.1:${port}`,
        socket: { reconnectStrategy: false, connectTimeout: 500 },
      });
      probe.on('error', () => undefined);
      try {
        await probe.connect();
        await probe.ping();
        await probe.close();
        return;
      } catch {
        if (probe.isOpen) probe.destroy();
      }
      if (Date.now() > deadline) throw new Error(`redis-server did not answer within 10 s: ${output}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    try {
      await launch();
      break;
    } catch (error) {
      if (attempt >= 3) throw error;
    }
  }

  const kill = async (): Promise<void> => {
    const proc = child;
    if (proc === null || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGKILL');
    await exited;
  };
  const server: RedisServer = {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    kill,
    restart: launch,
    stop: async () => {
      const proc = child;
      if (proc === null || proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      await exited;
    },
    client: async () => {
      const client = createClient({
        url: `redis://127.0.0.1:${port}`,
        socket: { reconnectStrategy: () => 50, connectTimeout: 1000 },
      });
      client.on('error', () => undefined);
      clients.push(client);
      await client.connect();
      return client;
    },
  };
  t.after(async () => {
    for (const client of clients) {
      if (client.isOpen) client.destroy();
    }
    await kill();
    rmSync(dir, { recursive: true, force: true });
  });
  return server;
}

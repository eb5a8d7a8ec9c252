/**
 * Real proxies from Debian for the client tests, each started on a free loopback port with a generated
 * configuration and stopped after the test: tinyproxy (HTTP CONNECT, optionally with BasicAuth), danted from
 * dante-server (SOCKS5, optionally with username/password against a system user created for the run), and an HTTPS
 * proxy made of a TLS front written with `node:tls` (test/fixtures/tls/server.crt) in front of tinyproxy.
 * A missing binary skips the test with its reason, except under CI (`CI` set), where it fails.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { createServer as createTlsServer } from 'node:tls';
import { missing } from './installed.js';
import { certs } from './tls.js';
import { delay, withTimeout } from './ws-async.js';

const TINYPROXY = '/usr/bin/tinyproxy';
const DANTED = '/usr/sbin/danted';

/** True when `binary` exists; otherwise the test is skipped (false is returned), or under CI it fails (installed.ts). */
export function needBinary(t: TestContext, binary: string, pkg: string): boolean {
  const reason = missing(binary, pkg);
  if (reason === null) return true;
  t.skip(reason);
  return false;
}

/** tinyproxy installed (or the test skipped / failed, see {@link needBinary}). */
export const needTinyproxy = (t: TestContext): boolean => needBinary(t, TINYPROXY, 'tinyproxy');
/** danted installed (or the test skipped / failed). */
export const needDante = (t: TestContext): boolean => needBinary(t, DANTED, 'dante-server');

/** A port free on 127.0.0.1 right now (bound, read and released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts TCP connections on 127.0.0.1:`port`; rejects if `child` exits first. */
async function waitListening(port: number, child: ChildProcess, what: string, output: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${what} exited at start: ${output()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket: Socket = connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${what} did not listen on ${port} within 10 s: ${output()}`);
    await delay(50);
  }
}

// Starts a daemon in its own process group, stopped (group-wide SIGTERM, then SIGKILL) after the test.
async function startDaemon(
  t: TestContext,
  what: string,
  make: (dir: string, port: number) => { cmd: string; args: string[] },
): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'nopoll-proxy-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  let lastError: Error | null = null;
  // The port is free when probed; another process may take it before the daemon binds: retry a few times.
  for (let tries = 0; tries < 3; tries++) {
    const port = await freePort();
    const { cmd, args } = make(dir, port);
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)));
    child.stderr!.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const stop = async (): Promise<void> => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        return;
      }
      await withTimeout(exited, 5000, `stopping ${what}`).catch(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // already gone
        }
      });
    };
    try {
      await waitListening(port, child, what, () => output);
      t.after(stop);
      return port;
    } catch (error) {
      lastError = error as Error;
      await stop();
    }
  }
  throw lastError ?? new Error(`${what} did not start`);
}

const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** A running tinyproxy. */
export interface Tinyproxy {
  port: number;
  /** `http://127.0.0.1:port` (no credentials). */
  url: string;
}

/**
 * Starts tinyproxy on 127.0.0.1; with `auth`, it wants those Basic credentials (407 otherwise); with
 * `connectPorts`, CONNECT to any other port is refused (403).
 */
export async function startTinyproxy(
  t: TestContext,
  options: { auth?: { user: string; password: string }; connectPorts?: number[] } = {},
): Promise<Tinyproxy> {
  const { auth, connectPorts = [] } = options;
  const port = await startDaemon(t, 'tinyproxy', (dir, p) => {
    const conf = join(dir, `tinyproxy-${p}.conf`);
    const lines = [
      ...(asRoot ? ['User nobody', 'Group nogroup'] : []),
      `Port ${p}`,
      'Listen 127.0.0.1',
      'Timeout 30',
      'MaxClients 32',
      'LogLevel Info',
      'Allow 127.0.0.1',
      'DisableViaHeader Yes',
      ...(auth ? [`BasicAuth ${auth.user} ${auth.password}`] : []),
      ...connectPorts.map((allowed) => `ConnectPort ${allowed}`),
    ];
    writeFileSync(conf, `${lines.join('\n')}\n`);
    return { cmd: TINYPROXY, args: ['-d', '-c', conf] };
  });
  return { port, url: `http://127.0.0.1:${port}` };
}

/** A running danted. */
export interface Dante {
  port: number;
  /** Credentials it wants, when started with `auth`. */
  user?: string;
  password?: string;
}

/**
 * Starts danted (SOCKS5) on 127.0.0.1. Connections to 127.0.0.1:`blockedPort` are refused by a rule (reply 2).
 * With `auth`, it wants a username and password (RFC 1929): dante checks them against the system's users, so a
 * user with no home and no login shell is created for the run (root only) and removed after. Null when that
 * cannot be done here (the test is skipped; under CI it fails).
 */
export async function startDante(
  t: TestContext,
  options: { auth?: boolean; blockedPort?: number } = {},
): Promise<Dante | null> {
  let user: string | undefined;
  let password: string | undefined;
  if (options.auth) {
    if (!asRoot) {
      const reason = 'danted checks SOCKS5 passwords against system users; creating one needs root';
      if (process.env['CI']) throw new Error(reason);
      t.skip(reason);
      return null;
    }
    user = `nopoll-s${process.pid % 100000}`;
    password = `pw-${Math.random().toString(36).slice(2, 10)}`;
    execFileSync('useradd', ['-M', '-N', '-g', 'nogroup', '-s', '/usr/sbin/nologin', user], { stdio: 'ignore' });
    const created = user;
    t.after(() => {
      execFileSync('userdel', [created], { stdio: 'ignore' });
    });
    execFileSync('chpasswd', [], { input: `${user}:${password}\n`, stdio: ['pipe', 'ignore', 'ignore'] });
  }
  const port = await startDaemon(t, 'danted', (dir, p) => {
    const conf = join(dir, `danted-${p}.conf`);
    const lines = [
      'logoutput: stderr',
      `internal: 127.0.0.1 port = ${p}`,
      // Both loopback families out: a name the proxy resolves (socks5h) may give ::1 first.
      'external: lo',
      'clientmethod: none',
      `socksmethod: ${options.auth ? 'username' : 'none'}`,
      ...(asRoot ? ['user.privileged: root', 'user.unprivileged: nobody'] : []),
      'client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }',
      ...(options.blockedPort
        ? [`socks block { from: 0.0.0.0/0 to: 127.0.0.1/32 port = ${options.blockedPort} }`]
        : []),
      'socks pass { from: 127.0.0.0/8 to: 0.0.0.0/0 command: connect }',
      'socks pass { from: 127.0.0.0/8 to: ::/0 command: connect }',
    ];
    writeFileSync(conf, `${lines.join('\n')}\n`);
    return { cmd: DANTED, args: ['-f', conf, '-p', join(dir, `danted-${p}.pid`), '-N', '1'] };
  });
  return { port, ...(user ? { user, password: password! } : {}) };
}

/**
 * An HTTPS proxy: a TLS front (`node:tls`, certificate `server.crt` for localhost and 127.0.0.1, signed by the
 * test CA) that passes the decrypted bytes to tinyproxy at `tinyproxyPort`. Counts the TLS connections it took.
 */
export async function startHttpsFront(
  t: TestContext,
  tinyproxyPort: number,
): Promise<{ port: number; url: string; accepted: () => number }> {
  let accepted = 0;
  const sockets = new Set<Socket>();
  const server = createTlsServer({ cert: certs.serverCert, key: certs.serverKey }, (front) => {
    accepted++;
    const back = connect({ host: '127.0.0.1', port: tinyproxyPort });
    sockets.add(front);
    sockets.add(back);
    front.on('error', () => back.destroy());
    back.on('error', () => front.destroy());
    front.on('close', () => {
      sockets.delete(front);
      back.destroy();
    });
    back.on('close', () => {
      sockets.delete(back);
      front.destroy();
    });
    front.pipe(back).pipe(front);
  });
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const { port } = server.address() as AddressInfo;
  return { port, url: `https://127.0.0.1:${port}`, accepted: () => accepted };
}

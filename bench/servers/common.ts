/**
 * What every bench echo server shares with the nopoll CLI contract: `--port 0 --host 127.0.0.1` on the command
 * line (other arguments ignored), one `listening on <scheme>://HOST:PORT/` line on stdout when ready, exit on
 * SIGTERM. They also exit when the orchestrator that started them disappears.
 */

export interface ListenOptions {
  host: string;
  port: number;
}

export function listenOptions(argv: readonly string[]): ListenOptions {
  let host = '127.0.0.1';
  let port = 0;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--host') host = argv[++i] ?? host;
    else if (argv[i] === '--port') port = Number(argv[++i] ?? 0);
  }
  return { host, port };
}

/** Prints the ready line the harness waits for, and installs the exit handlers. */
export function announce(scheme: 'ws' | 'tcp', host: string, port: number, remark = ''): void {
  process.stdout.write(`listening on ${scheme}://${host}:${port}/${remark === '' ? '' : ` (${remark})`}\n`);
}

export function installExitHandlers(): void {
  process.on('SIGTERM', () => process.exit(0));
  process.on('SIGINT', () => process.exit(0));
  // Orphaned (the orchestrator was killed): the parent process id changes. Checked once a second, off the hot path.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) process.exit(0);
  }, 1000).unref();
}

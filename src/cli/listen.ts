/**
 * `nopoll listen` / `npm start`: runs the regression listener (`regression-listener.ts`) on noPoll's ports. It binds
 * loopback unless told otherwise (`--host`): its commands are for tests, and `open-file` writes files.
 * @packageDocumentation
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { failure, intOption, onSignals, parse, usageError, wsUrl, type Command, type CommandSpec } from './args.js';
import { SERVER_DEFLATE_FLAGS, serverDeflateOption } from './deflate-args.js';
import { startRegressionListener } from './regression-listener.js';
import { REGRESSION_TLS_NOTES } from './regression-tls.js';

// Only files the package ships may be named here (`files` in package.json): the help is read after `npm install`.
const SPEC: CommandSpec = {
  name: 'listen',
  summary: 'the regression listener on loopback (ws: 1234, 2234; wss with --tls-dir: 1235, 1238-1240, 2235, 2238)',
  usage: ['[--host H] [--offset-port N] [--file-dir DIR] [--get-file PATH] [--tls-dir DIR] [--debug] [--deflate ...]'],
  description:
    "Runs the regression listener, the server side of noPoll's test suite (its commands: docs/guide.md): ws on " +
    'H:1234 and [::1]:2234; with --tls-dir, wss on H:1235 and [::1]:2235, H:1238 and [::1]:2238 (TLS 1.2 only), ' +
    'H:1239 (client certificate required) and H:1240 (TLS 1.3 only); each port plus N with --offset-port. Prints ' +
    'a "listening on ..." line per port when ready; stops on SIGTERM or SIGINT and exits 0.',
  flags: [
    {
      name: 'host',
      value: 'H',
      help:
        'address of the IPv4 ports (default 127.0.0.1: reachable from this machine only). A public address such as ' +
        '0.0.0.0 lets anyone who reaches it run the test commands, open-file included: use one only on a network you ' +
        'trust. The IPv6 ports stay on ::1.',
    },
    { name: 'offset-port', value: 'N', help: 'add N (0 to 60000) to every port' },
    {
      name: 'file-dir',
      value: 'DIR',
      help:
        "the directory open-file writes into (default: a fresh private directory under the system's temporary " +
        'directory, named on standard error). open-file takes a plain file name in it, never a path',
    },
    { name: 'get-file', value: 'PATH', help: "file streamed by the get-file command (default: the package's LICENSE)" },
    {
      name: 'tls-dir',
      value: 'DIR',
      help:
        'where server.crt, server.key and ca.crt are; without it the TLS ports are not opened (npm start, in the ' +
        'repository, passes its test certificates)',
    },
    { name: 'debug', help: 'log to the console' },
    'Compression',
    ...SERVER_DEFLATE_FLAGS,
  ],
  maxPositionals: 0,
};

/** `nopoll listen`. */
export const listenCommand: Command = { spec: SPEC, run: listen };

/** Runs `nopoll listen`. */
async function listen(argv: string[]): Promise<void> {
  const { values } = parse(SPEC, argv);
  const offset = intOption(values['offset-port'], 'offset-port', 0);
  if (offset > 60000) usageError('--offset-port must be between 0 and 60000');
  const host = typeof values['host'] === 'string' ? values['host'] : '127.0.0.1';
  const fileDir = typeof values['file-dir'] === 'string' ? values['file-dir'] : undefined;
  if (fileDir !== undefined && !(existsSync(fileDir) && statSync(fileDir).isDirectory())) {
    failure(`--file-dir: ${fileDir} is not a directory`);
  }
  const tlsDir = typeof values['tls-dir'] === 'string' ? values['tls-dir'] : null;
  const tlsFiles =
    tlsDir === null
      ? null
      : { cert: join(tlsDir, 'server.crt'), key: join(tlsDir, 'server.key'), ca: join(tlsDir, 'ca.crt') };
  const missing = tlsFiles === null ? [] : Object.values(tlsFiles).filter((file) => !existsSync(file));
  // As a certificate file that cannot be read (echo-server --cert): a failure, not a usage mistake.
  if (missing.length > 0) failure(`--tls-dir: ${missing.join(', ')} not found`);
  const running = await startRegressionListener({
    port4: 1234 + offset,
    port6: 2234 + offset,
    host4: host,
    deflate: serverDeflateOption(values),
    ...(fileDir !== undefined ? { fileDir } : {}),
    ...(typeof values['get-file'] === 'string' ? { getFile: values['get-file'] } : {}),
    ...(tlsFiles !== null
      ? {
          tls: {
            cert: { file: tlsFiles.cert },
            key: { file: tlsFiles.key },
            ca: { file: tlsFiles.ca },
            ports: {
              1235: 1235 + offset,
              2235: 2235 + offset,
              1238: 1238 + offset,
              2238: 2238 + offset,
              1239: 1239 + offset,
              1240: 1240 + offset,
            },
          },
        }
      : {}),
  });
  if (values['debug']) running.ctx.setLogEnabled(true);
  onSignals(() => running.close());
  process.stdout.write(`listening on ${wsUrl(host, running.ipv4.port)}\n`);
  if (running.ipv6) process.stdout.write(`listening on ${wsUrl('::1', running.ipv6.port)}\n`);
  for (const [base, listener] of Object.entries(running.tls ?? {})) {
    if (listener === null) continue;
    const url = wsUrl(listener.host, listener.port).replace(/^ws:/, 'wss:');
    process.stdout.write(
      `listening on ${url} (${REGRESSION_TLS_NOTES[Number(base) as keyof typeof REGRESSION_TLS_NOTES]})\n`,
    );
  }
  process.stderr.write(`open-file writes into ${running.fileDir}\n`);
}

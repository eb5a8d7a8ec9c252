/**
 * `nopoll/ws` as users get it: through package.json "exports" (and "typesVersions" for `moduleResolution: node10`),
 * for `import` and `require`, type-checked under `tsc --strict` without `skipLibCheck` (so nopoll's own .d.ts files
 * are checked too), then run. A scratch project in the system's temporary directory links this package as
 * `node_modules/nopoll` (the built dist/, as `npm pack` ships it).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const run = promisify(execFile);

const ESM_APP = `import WebSocket, { WebSocketServer, createWebSocketStream, type RawData, type ServerOptions } from 'nopoll/ws';
const options: ServerOptions = { port: 0, host: '127.0.0.1' };
const wss = new WebSocketServer(options);
wss.on('connection', (ws, req) => {
  ws.on('message', (data: RawData, isBinary: boolean) => ws.send(data, { binary: isBinary }));
  console.log('connection', req.url, ws.readyState === WebSocket.OPEN);
});
wss.on('listening', () => {
  const address = wss.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  const duplex = createWebSocketStream(new WebSocket(\`ws://127.0.0.1:\${port}/esm\`), { encoding: 'utf8' });
  duplex.on('data', (text: string) => {
    console.log('echo', text);
    wss.clients.forEach((client) => client.terminate());
    wss.close();
  });
  duplex.write('from esm');
});
const legacy: InstanceType<typeof WebSocket.Server> = wss;
void legacy;
`;

const CJS_APP = `import WebSocket = require('nopoll/ws');
import { WebSocketServer, type RawData } from 'nopoll/ws';
const wss = new WebSocket.Server({ port: 0, host: '127.0.0.1' });
const same: boolean = WebSocket.WebSocketServer === WebSocketServer;
wss.on('connection', (ws: WebSocket) => ws.on('message', (data: RawData, isBinary: boolean) => ws.send(data, { binary: isBinary })));
wss.on('listening', () => {
  const address = wss.address() as WebSocket.AddressInfo;
  const client: WebSocket = new WebSocket(\`ws://127.0.0.1:\${address.port}/cjs\`);
  client.on('open', () => client.send('from cjs'));
  client.on('message', (data: WebSocket.RawData) => {
    console.log('echo', String(data), same);
    client.close();
    wss.close();
  });
});
`;

const PLAIN_CJS = `const WebSocket = require('nopoll/ws');
const { WebSocketServer, Server, createWebSocketStream } = require('nopoll/ws');
console.log(typeof WebSocket, WebSocket.CLOSED, Server === WebSocketServer, WebSocket.WebSocket === WebSocket, typeof createWebSocketStream);
`;

function project(dir: string, type: 'module' | 'commonjs', files: Record<string, string>): void {
  mkdirSync(join(dir, 'node_modules', '@types'), { recursive: true });
  symlinkSync(ROOT, join(dir, 'node_modules', 'nopoll'), 'dir');
  symlinkSync(join(ROOT, 'node_modules', '@types', 'node'), join(dir, 'node_modules', '@types', 'node'), 'dir');
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `scratch-${type}`, private: true, type }));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
}

// `skipLibCheck: false` once is enough to check nopoll's .d.ts files; the other runs skip it (it is slow).
async function tsc(dir: string, options: string[], file: string, out: string): Promise<void> {
  const args = [
    '--strict',
    '--target',
    'ES2022',
    '--types',
    'node',
    '--esModuleInterop',
    '--outDir',
    out,
    ...options,
    file,
  ];
  try {
    await run(process.execPath, [TSC, ...args], { cwd: dir, timeout: 60_000 });
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string };
    assert.fail(`tsc ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

async function node(dir: string, file: string): Promise<string> {
  const { stdout } = await run(process.execPath, [file], { cwd: dir, timeout: 10_000 });
  return stdout;
}

describe('nopoll/ws as a package (exports, types under tsc --strict)', () => {
  it('import (ESM, NodeNext resolution) and require (CommonJS, NodeNext and Node10 resolution)', async (t) => {
    const base = mkdtempSync(join(tmpdir(), 'nopoll-ws-package-'));
    t.after(() => rmSync(base, { recursive: true, force: true }));
    const esm = join(base, 'esm');
    const cjs = join(base, 'cjs');
    mkdirSync(esm);
    mkdirSync(cjs);
    project(esm, 'module', { 'app.ts': ESM_APP });
    project(cjs, 'commonjs', { 'app.ts': CJS_APP, 'plain.cjs': PLAIN_CJS });

    await tsc(esm, ['--module', 'NodeNext', '--moduleResolution', 'NodeNext'], 'app.ts', 'out');
    assert.equal(await node(esm, 'out/app.js'), 'connection /esm true\necho from esm\n');

    await tsc(cjs, ['--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--skipLibCheck'], 'app.ts', 'out');
    await tsc(cjs, ['--module', 'CommonJS', '--moduleResolution', 'Node10', '--skipLibCheck'], 'app.ts', 'out10');
    assert.equal(await node(cjs, 'out/app.js'), 'echo from cjs true\n');
    assert.equal(await node(cjs, 'out10/app.js'), 'echo from cjs true\n');
    assert.equal(await node(cjs, 'plain.cjs'), 'function 3 true true function\n');
  });
});

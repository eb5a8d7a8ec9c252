/**
 * `nopoll connect` in a real terminal: tmux runs it in a 100x30 pane against a nopoll echo listener, keys are
 * typed, and the screen is read back as the user sees it. History recall (in memory and from --history-file),
 * slash commands, pongs, binary shown as hex, a hostile peer's escape sequences shown escaped (the screen is not
 * cleared, the title not changed), close codes.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nopollArgv } from '../helpers/cli.js';
import { needTmux, startPane } from '../helpers/tmux.js';
import { withTimeout } from '../helpers/ws-async.js';
import { startEchoListener } from '../helpers/ws-peers.js';

// What the hostile peer sends: clear the screen, set the window title, red text, a C1 CSI, a bidi override.
const HOSTILE = 'A\x1b[2J\x1b]2;pwned\x07B\x1b[31mC\u009b1mD\u202eE';
const HOSTILE_SHOWN = 'A\\x1b[2J\\x1b]2;pwned\\x07B\\x1b[31mC\\x9b1mD\\u202eE';

describe('nopoll connect in a terminal (tmux)', () => {
  it(
    'line editing with history, /ping, /binary, escaped hostile text, /close 4000 bye; the history file is read back',
    { timeout: 60_000 },
    async (t) => {
      if (!needTmux(t)) return;
      const srv = await startEchoListener();
      t.after(() => srv.close());
      const received: Array<{ text: string | null; bytes: Buffer }> = [];
      srv.ctx.onMessage = (conn, msg) => {
        received.push({ text: msg.isText ? msg.text : null, bytes: Buffer.from(msg.payload) });
        if (msg.isText && msg.text === 'evil') {
          conn.sendText(HOSTILE);
          conn.ping('\x1b[2J');
        } else if (msg.isText) conn.sendText(msg.payload);
        else conn.sendBinary(msg.payload);
      };
      const dir = mkdtempSync(join(tmpdir(), 'nopoll-history-'));
      t.after(() => rmSync(dir, { recursive: true, force: true }));
      const history = join(dir, 'history');
      // No scheme: ws:// is meant.
      const pane = startPane(t, nopollArgv('connect', `127.0.0.1:${srv.port}/`, '--history-file', history));
      const title = pane.title();
      await pane.waitFor(/^connected to ws:\/\/127\.0\.0\.1:\d+\/$/, 'connected line');
      const conn = await srv.ready.next(5000, 'the connection');

      pane.typeLine('hello tmux');
      await pane.waitFor(/^< hello tmux$/, 'the echo');
      // Up brings the line back for editing; what is typed is added to it.
      pane.keys('Up');
      await pane.waitFor(
        (rows) => rows.filter((r) => r === '> hello tmux').length === 2,
        'the recalled line at the prompt',
      );
      pane.typeLine(' again');
      await pane.waitFor(/^< hello tmux again$/, 'the echo of the recalled line');
      assert.deepEqual(
        received.map((m) => m.text),
        ['hello tmux', 'hello tmux again'],
      );

      pane.typeLine('/ping tmux-ping');
      await pane.waitFor(/^< pong: tmux-ping$/, 'the pong');

      pane.typeLine('/binary 00ff1b5b3331');
      await pane.waitFor(/^< binary 6 bytes: 00ff1b5b3331$/, 'the binary echo, as hex');
      assert.deepEqual([...received[2]!.bytes], [0x00, 0xff, 0x1b, 0x5b, 0x33, 0x31]);
      assert.equal(received[2]!.text, null, 'sent as a binary message');

      pane.typeLine('evil');
      const rows = await pane.waitFor((r) => r.includes(`< ${HOSTILE_SHOWN}`), 'the hostile text, escaped');
      await pane.waitFor(/^< ping: \\x1b\[2J$/, 'the hostile ping payload, escaped');
      // Nothing was acted on: the earlier lines are still there, the title is unchanged.
      assert.ok(rows.includes('< hello tmux'), `the screen was not cleared:\n${rows.join('\n')}`);
      assert.equal(pane.title(), title);
      assert.notEqual(pane.title(), 'pwned');

      pane.typeLine('/bogus');
      await pane.waitFor(/^unknown command \/bogus/, 'the mistake reported');

      pane.typeLine('/close 4000 bye');
      await pane.waitFor(/^closed: 4000$/, 'the close code');
      const info = await withTimeout(conn.closed, 5000, 'the server seeing the close');
      assert.deepEqual([info.code, info.reason, info.wasClean], [4000, 'bye', true]);
      await pane.waitFor(() => pane.exitStatus() !== null, 'the exit');
      assert.equal(pane.exitStatus(), 0);

      // The history file holds the lines entered, oldest first, readable by the user only.
      assert.equal(
        readFileSync(history, 'utf8'),
        'hello tmux\nhello tmux again\n/ping tmux-ping\n/binary 00ff1b5b3331\nevil\n/bogus\n/close 4000 bye\n',
      );
      assert.equal(statSync(history).mode & 0o777, 0o600);

      // A new session reads it: Up recalls the last line of the previous one. Ctrl-D closes with 1000.
      const again = startPane(t, nopollArgv('connect', `ws://127.0.0.1:${srv.port}/`, '--history-file', history));
      await again.waitFor(/^connected to /, 'the second connection');
      const second = await srv.ready.next(5000, 'the second connection');
      again.keys('Up');
      await again.waitFor(/^> \/close 4000 bye$/, 'the last line of the previous session');
      again.keys('C-u', 'C-d');
      await again.waitFor(/^closed: 1000$/, 'the close after Ctrl-D');
      assert.equal((await withTimeout(second.closed, 5000, 'the second close')).code, 1000);
      await again.waitFor(() => again.exitStatus() !== null, 'the exit');
      assert.equal(again.exitStatus(), 0);
    },
  );

  it('colours on a terminal, escapes in reverse video; none with NO_COLOR', { timeout: 30_000 }, async (t) => {
    if (!needTmux(t)) return;
    const srv = await startEchoListener();
    t.after(() => srv.close());
    srv.ctx.onMessage = (conn) => void conn.sendText('A\x1b[2JB');
    for (const noColor of [null, '1']) {
      const pane = startPane(t, nopollArgv('connect', srv.url), { env: { NO_COLOR: noColor } });
      await pane.waitFor(/^connected to /, 'the connection');
      pane.typeLine('x');
      await pane.waitFor(/^< A\\x1b\[2JB$/, 'the escaped text');
      const styled = pane.screen(true).join('\n');
      if (noColor === null) assert.match(styled, /< A\x1b\[7m\\x1b\x1b\[0m/, 'the escape in reverse video');
      else assert.doesNotMatch(styled, /\x1b/, 'no colour at all with NO_COLOR');
      pane.keys('C-d');
      await pane.waitFor(() => pane.exitStatus() !== null, 'the exit');
      assert.equal(pane.exitStatus(), 0);
    }
  });
});

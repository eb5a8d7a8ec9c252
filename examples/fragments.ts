// Manual 1.8: fragments. By default frames are joined and handlers see whole messages; with deliverFragments each
// frame arrives as it is, and Msg.join puts the pieces together as noPoll's nopoll_msg_join does.
import { Conn, Context, Listener, Msg, Opcode } from '../src/index.js';
import { check, checkEqual, deadline, ok } from './lib/check.js';

deadline(20_000);
// Server A: whole messages.
const wholeCtx = new Context();
wholeCtx.onMessage = (conn, msg) => {
  conn.sendText(`whole: ${msg.text} (fragment: ${msg.isFragment})`);
};
const whole = await Listener.listen(wholeCtx, { host: '127.0.0.1', port: 0 });

// Server B: frame by frame, joined by the application.
const framesCtx = new Context();
const pieces: string[] = [];
framesCtx.onMessage = (conn, msg) => {
  pieces.push(`${msg.opcode === Opcode.CONTINUATION ? 'CONT' : 'TEXT'}:${msg.text}:${msg.isFinal ? 'fin' : 'more'}`);
  if (!msg.isFragment) {
    conn.sendText(`single frame: ${msg.text}`);
    return;
  }
  const joined = Msg.join(conn.hook as Msg | null | undefined, msg);
  if (!msg.isFinal) {
    conn.hook = joined;
    return;
  }
  conn.hook = null;
  conn.sendText(`joined: ${joined?.text}`);
};
const frames = await Listener.listen(framesCtx, { host: '127.0.0.1', port: 0, opts: { deliverFragments: true } });

const ctx = new Context();
const replies: string[] = [];
for (const port of [whole.port, frames.port]) {
  const conn = await Conn.open(ctx, `ws://127.0.0.1:${port}/`, { timeoutMs: 5000 });
  // "Hello" in three frames: TEXT FIN=0, CONTINUATION FIN=0, CONTINUATION FIN=1.
  conn.sendTextFragment('He');
  conn.sendTextFragment('l');
  conn.sendText('lo');
  replies.push((await conn.nextMsg({ timeoutMs: 5000 })).text);
  conn.sendText('plain');
  replies.push((await conn.nextMsg({ timeoutMs: 5000 })).text);
  await conn.close();
}
checkEqual(
  replies,
  ['whole: Hello (fragment: false)', 'whole: plain (fragment: false)', 'joined: Hello', 'single frame: plain'],
  'replies of both servers',
);
checkEqual(
  pieces,
  ['TEXT:He:more', 'CONT:l:more', 'CONT:lo:fin', 'TEXT:plain:fin'],
  'frames seen with deliverFragments',
);

// A piece may end inside a UTF-8 character; only the whole message must be valid.
const conn = await Conn.open(ctx, `ws://127.0.0.1:${whole.port}/`, { timeoutMs: 5000 });
const euro = Buffer.from('€'); // 3 bytes
conn.sendTextFragment(euro.subarray(0, 1));
conn.sendText(euro.subarray(1));
checkEqual(
  (await conn.nextMsg({ timeoutMs: 5000 })).text,
  'whole: € (fragment: false)',
  'a character split across frames',
);
let refused = false;
try {
  conn.sendText(Buffer.from([0xff]));
} catch (error) {
  refused = error instanceof TypeError;
}
check(refused, 'invalid UTF-8 text is refused before anything is sent');

await ctx.close();
await wholeCtx.close();
await framesCtx.close();
ok('fragments (manual 1.8)');

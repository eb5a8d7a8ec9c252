// Guide §1.8: fragmented messages.
import { Conn, Context, Listener, Msg } from '../../src/index.js';

// Server A, default mode: fragments are joined and onMessage sees whole messages.
const wholeCtx = new Context();
wholeCtx.onMessage = (conn, msg) => {
  conn.sendText(`whole: ${msg.text} (fragment: ${msg.isFragment})`);
};
const whole = await Listener.listen(wholeCtx, { host: '127.0.0.1', port: 0 });

// Server B, noPoll's behaviour: each frame is delivered as it arrives, and the
// application joins the pieces with Msg.join, as noPoll's regression listener does.
const framesCtx = new Context();
framesCtx.onMessage = (conn, msg) => {
  if (!msg.isFragment) {
    conn.sendText(`single frame: ${msg.text}`);
    return;
  }
  const joined = Msg.join(conn.hook as Msg | null | undefined, msg);
  if (!msg.isFinal) {
    conn.hook = joined; // keep the pieces per connection
    return;
  }
  conn.hook = null;
  conn.sendText(`joined: ${joined?.text}`);
};
const frames = await Listener.listen(framesCtx, {
  host: '127.0.0.1',
  port: 0,
  opts: { deliverFragments: true },
});

// The client sends "Hello" in two frames: TEXT with FIN=0, then CONTINUATION with FIN=1.
const ctx = new Context();
for (const port of [whole.port, frames.port]) {
  const conn = await Conn.open(ctx, `ws://127.0.0.1:${port}/`, { timeoutMs: 5000 });
  conn.sendTextFragment('Hel');
  conn.sendText('lo'); // ends the open fragmented message
  console.log((await conn.nextMsg({ timeoutMs: 5000 })).text);
  await conn.close();
}
// Prints "whole: Hello (fragment: false)" then "joined: Hello".

await ctx.close();
await wholeCtx.close();
await framesCtx.close();

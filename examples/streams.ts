// Node streams over a connection: a ConnStream is a Duplex (writes become messages, reads give payloads) with
// backpressure both ways, so stream.pipeline works end to end; the server here upper-cases what it receives.
import { pipeline } from 'node:stream/promises';
import { Readable, Transform } from 'node:stream';
import { Conn, Context, ConnStream, Listener } from '../src/index.js';
import { checkEqual, deadline, ok } from './lib/check.js';

deadline(20_000);
// Server: a ConnStream per connection, piped through a Transform and back into itself.
const serverCtx = new Context();
serverCtx.onReady = (conn) => {
  const stream = new ConnStream(conn, { messageMode: true });
  const upper = new Transform({
    objectMode: true,
    transform(payload: Buffer, _encoding, done) {
      done(null, Buffer.from(payload.toString('utf8').toUpperCase()));
    },
  });
  void pipeline(stream, upper, stream).catch(() => undefined);
};
const listener = await Listener.listen(serverCtx, { host: '127.0.0.1', port: 0 });

// Client: write three messages, then read the answers as they come.
const ctx = new Context();
const conn = await Conn.open(ctx, `ws://127.0.0.1:${listener.port}/`, { timeoutMs: 5000 });
const stream = new ConnStream(conn, { messageMode: true });
const source = Readable.from(['alpha', 'beta', 'gamma'].map((word) => Buffer.from(word)));
source.pipe(stream, { end: false });
const answers: string[] = [];
for await (const payload of stream) {
  answers.push((payload as Buffer).toString());
  if (answers.length === 3) break; // leaving the loop destroys the stream, which closes the connection
}
checkEqual(answers, ['ALPHA', 'BETA', 'GAMMA'], 'answers through the streams');
checkEqual((await conn.closed).code, 1000, 'destroying the stream closed the connection');

await ctx.close();
await serverCtx.close();
ok('streams (Duplex over a connection)');

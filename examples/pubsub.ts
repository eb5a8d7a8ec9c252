// Topics in one process (docs/pubsub.md): connections subscribe to the topic their URL names; a message one of
// them sends is published to the others (framed once, one write per subscriber per event-loop turn); a
// connection that ends leaves its topics; a nopoll.pubsub.v1 subscriber gets JSON envelopes with offsets; and a
// reconnecting PubSubClient keeps its place.
import { Conn, Context, Listener, PubSubClient, PUBSUB_PROTOCOL, type TopicMessage } from '../src/index.js';
import { check, checkEqual, deadline, ok } from './lib/check.js';

deadline(30_000);
const server = new Context({ pubsub: { maxQueuedBytes: 256 * 1024, slowSubscriber: 'drop' } });
server.onReady = (conn) => {
  conn.subscribe(decodeURIComponent(conn.requestedUrl.slice(1).split('?')[0]!));
};
server.onMessage = (conn, msg) => {
  for (const topic of conn.topics) conn.publish(topic, msg.payload, { binary: msg.isBinary });
};
const listener = await Listener.listen(server, { host: '127.0.0.1', port: 0, opts: { protocols: [PUBSUB_PROTOCOL] } });
const url = (topic: string): string => `ws://127.0.0.1:${listener.port}/${topic}`;

const clients = new Context();
const alice = await Conn.open(clients, url('news'), { timeoutMs: 5000 });
const bob = await Conn.open(clients, url('news'), { timeoutMs: 5000 });
const carol = await Conn.open(clients, url('sport'), { timeoutMs: 5000 });
while (server.subscriberCount('news') < 2) await new Promise((resolve) => setTimeout(resolve, 5));
checkEqual(server.subscriberCount('news'), 2, 'two subscribers of news');

alice.sendText('hello news');
checkEqual((await bob.nextMsg({ timeoutMs: 5000 })).text, 'hello news', 'bob got what alice sent');
checkEqual(server.publish('sport', 'goal!'), 1, 'ctx.publish reached the one sport subscriber');
checkEqual((await carol.nextMsg({ timeoutMs: 5000 })).text, 'goal!', 'carol got it');
check(alice.getMsg() === null, 'alice does not get her own message back');

// A reconnecting subscriber of news, speaking nopoll.pubsub.v1: messages come with their position.
const got: TopicMessage[] = [];
const subscriber = new PubSubClient(clients, url('news'));
subscriber.onMessage = (message) => got.push(message);
await subscriber.connection.ready({ timeoutMs: 5000 });
while (server.subscriberCount('news') < 3) await new Promise((resolve) => setTimeout(resolve, 5));
server.publish('news', 'with a position');
while (got.length < 1) await new Promise((resolve) => setTimeout(resolve, 5));
checkEqual(got[0]!.data, 'with a position', 'the client got the message');
check(got[0]!.offset !== null && subscriber.position !== null, 'and its position');

await bob.close();
const until = Date.now() + 5000;
while (server.subscriberCount('news') > 2 && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 5));
checkEqual(server.subscriberCount('news'), 2, 'a closed connection left its topic');
console.log('pub/sub stats:', server.pubsub.stats);
await subscriber.close();
await clients.close();
await server.close();
ok('pubsub');

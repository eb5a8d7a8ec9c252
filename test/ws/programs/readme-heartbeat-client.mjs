// ws README FAQ, "How to detect and close broken connections?", the client (30 s + 1 s in the README).
import WebSocket from 'ws';

function heartbeat() {
  clearTimeout(this.pingTimeout);

  // Use `WebSocket#terminate()`, which immediately destroys the connection,
  // instead of `WebSocket#close()`, which waits for the close timer.
  // Delay should be equal to the interval at which your server
  // sends out pings plus a conservative assumption of the latency.
  this.pingTimeout = setTimeout(
    () => {
      this.terminate();
    },
    Number(process.env.INTERVAL_MS) + 100,
  );
}

const client = new WebSocket(process.env.URL);

client.on('error', console.error);
client.on('open', heartbeat);
client.on('ping', heartbeat);
client.on('close', function clear() {
  clearTimeout(this.pingTimeout);
  console.log('closed');
});

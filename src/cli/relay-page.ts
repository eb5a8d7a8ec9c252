/**
 * The small chat page `nopoll relay` serves at `GET /`: it joins a topic (`?topic=`, default `lobby`) with the
 * `nopoll.pubsub.v1` subprotocol, shows what arrives, sends what is typed, and after a disconnection reconnects
 * with `?since=EPOCH:OFFSET` to get what it missed. Tests drive it through `window.chat`.
 * @packageDocumentation
 */

/** The page. No external resources: it works offline. */
export const CHAT_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>nopoll relay chat</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 0 auto; max-width: 46rem; padding: 1rem; }
  #log { border: 1px solid #ccc; height: 60vh; overflow-y: auto; padding: .5rem; white-space: pre-wrap; }
  #log .note { color: #777; font-style: italic; }
  form { display: flex; gap: .5rem; margin-top: .5rem; }
  #text { flex: 1; padding: .4rem; }
  #status { color: #555; }
</style>
</head>
<body>
<h1>nopoll relay chat <small id="status">connecting</small></h1>
<div id="log" aria-live="polite"></div>
<form id="form"><input id="text" autocomplete="off" placeholder="message"><button id="send">Send</button></form>
<script>
"use strict";
const params = new URLSearchParams(location.search);
const topic = params.get("topic") || "lobby";
const name = params.get("name") || "guest-" + Math.random().toString(36).slice(2, 6);
const log = document.getElementById("log");
const status = document.getElementById("status");
const chat = { topic, name, messages: [], notes: [], connected: false, position: null, send: null };
window.chat = chat;
let socket = null;
let delay = 250;

function line(text, note) {
  const div = document.createElement("div");
  if (note) div.className = "note";
  div.textContent = text;
  log.appendChild(div);
  log.scrollTop = log.scrollHeight;
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  let url = scheme + "//" + location.host + "/" + encodeURIComponent(topic) + "?member=" + encodeURIComponent(name);
  if (chat.position) url += "&since=" + encodeURIComponent(chat.position);
  socket = new WebSocket(url, "nopoll.pubsub.v1");
  socket.onopen = () => {
    chat.connected = true;
    delay = 250;
    status.textContent = "on " + topic + " as " + name;
  };
  socket.onmessage = (event) => {
    const frame = JSON.parse(event.data);
    if ("recovered" in frame) {
      chat.notes.push(frame.recovered ? "recovered" : "not recovered");
      line(frame.recovered ? "(reconnected: nothing missed)" : "(reconnected: some messages were missed)", true);
    } else if (frame.gap) {
      chat.notes.push("gap");
      line("(messages may have been missed)", true);
    } else {
      if (frame.epoch !== null && frame.offset !== null) chat.position = frame.epoch + ":" + frame.offset;
      const text = frame.binary ? "[" + atob(frame.data).length + " bytes]" : frame.data;
      chat.messages.push(text);
      line(text);
    }
  };
  socket.onclose = () => {
    chat.connected = false;
    status.textContent = "disconnected, retrying";
    setTimeout(connect, delay);
    delay = Math.min(delay * 2, 5000);
  };
}

chat.send = (text) => {
  if (!socket || socket.readyState !== WebSocket.OPEN) return false;
  socket.send(name + ": " + text);
  line(name + ": " + text);
  return true;
};

document.getElementById("form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = document.getElementById("text");
  if (input.value !== "" && chat.send(input.value)) input.value = "";
});
connect();
</script>
</body>
</html>
`;

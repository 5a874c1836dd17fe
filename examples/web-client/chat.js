// The chat page: one Pulse client (WebSocket, HTTP streaming where WebSocket is blocked), one
// subscription on a channel with history, presence joined with the user's name. Query
// parameters: server (ws URL, default ws://<this host>:8080/ws), channel (default
// chat/lobby), name (default a guest name), transport=http (skip WebSocket),
// minReconnectDelayMs and maxReconnectDelayMs.
import { Pulse, openHttpStream, webSocketTransport } from './pulse.min.js';

const params = new URLSearchParams(location.search);
const server = params.get('server') ?? `ws://${location.hostname}:8080/ws`;
const channel = params.get('channel') ?? 'chat/lobby';
const name = params.get('name') ?? `guest-${Math.random().toString(36).slice(2, 6)}`;
const httpBase = new URL(server.replace(/^ws/, 'http')).origin;
const TRANSPORTS = ['websocket', 'http'];

const http = (_url, signal) => openHttpStream(httpBase, { signal });
// Reconnect delays may be given (the defaults are 500 ms and 20 s).
const delays = Object.fromEntries(
  ['minReconnectDelayMs', 'maxReconnectDelayMs']
    .filter((k) => params.has(k))
    .map((k) => [k, Number(params.get(k))]),
);
const pulse = new Pulse(server, {
  ...delays,
  transports: params.get('transport') === 'http' ? [http] : [webSocketTransport(), http],
});

// What happened, for a person (the page) and for a test (window.chat).
const chat = {
  pulse,
  name,
  /** Publications as the subscription delivered them, in order: [offset, text]. */
  received: [],
  /** Every message shown, by offset (history and live). */
  shown: new Map(),
  /** connection id -> name */
  members: new Map(),
  /** `subscribed` events: {recovered, wasRecovering}. */
  subscribed: [],
  /** Transports of the connections made, in order. */
  transports: [],
};
window.chat = chat;

const $ = (id) => document.getElementById(id);
const decode = (payload) => JSON.parse(new TextDecoder().decode(payload));
$('channel').textContent = channel;

function show(offset, message) {
  // Without history on the channel publications have no offset: shown as they come.
  if (offset === undefined) offset = Number.MAX_SAFE_INTEGER;
  else if (chat.shown.has(offset)) return;
  chat.shown.set(offset, message);
  const li = document.createElement('li');
  li.dataset.offset = String(offset);
  const who = document.createElement('span');
  who.className = 'name';
  who.textContent = message.name;
  li.append(who, message.text);
  // In offset order, whether it came from history or live.
  const later = [...$('messages').children].find((el) => Number(el.dataset.offset) > offset);
  $('messages').insertBefore(li, later ?? null);
  li.scrollIntoView({ block: 'nearest' });
}

function note(text) {
  const li = document.createElement('li');
  li.className = 'note';
  li.textContent = text;
  $('messages').append(li);
}

const failed = (err) => note(`error: ${err.message}`);

function renderMembers() {
  const names = [...new Set(chat.members.values())].sort();
  $('members').replaceChildren(
    ...names.map((n) => {
      const li = document.createElement('li');
      li.textContent = n === name ? `${n} (you)` : n;
      return li;
    }),
  );
}

async function loadHistory() {
  const { publications } = await pulse.history(channel, { limit: 50 });
  for (const p of publications) show(p.offset, decode(p.payload));
}

async function syncMembers() {
  const members = await pulse.presence.sync(channel);
  chat.members = new Map(Object.entries(members).map(([id, data]) => [id, String(data.name)]));
  renderMembers();
}

pulse.on('state', ({ state }) => {
  const label = state === 'connected' ? `connected (${chat.transports.at(-1)})` : state;
  $('status').textContent = label;
  $('status').dataset.state = state;
});
pulse.on('connected', ({ transport }) => chat.transports.push(TRANSPORTS[transport] ?? String(transport)));

const sub = pulse.newSubscription(channel);
sub.on('publication', (p) => {
  const message = decode(p.payload);
  chat.received.push([p.offset, message.text]);
  show(p.offset, message);
});
sub.on('presence', (event) => {
  if (event.action === 'leave') chat.members.delete(event.connectionId);
  else chat.members.set(event.connectionId, String(event.data?.name));
  renderMembers();
});
sub.on('subscribed', ({ recovered, wasRecovering }) => {
  chat.subscribed.push({ recovered, wasRecovering });
  // First subscribe: the recent past. A recovery that could not be made: the past again, and a
  // word that some messages may be missing.
  if (!wasRecovering) loadHistory().catch(failed);
  else if (!recovered) {
    note('reconnected: some messages may be missing');
    loadHistory().catch(failed);
  }
  // The members' connections are new after an outage: ask again.
  syncMembers().catch(failed);
});
sub.subscribe();

pulse.presence.join(channel, { name }).catch(failed);
pulse.connect();

$('send').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const text = $('text').value;
  $('text').value = '';
  // Queued while disconnected, sent on reconnect.
  pulse.publish(channel, JSON.stringify({ name, text })).catch((err) => note(`not sent: ${err.message}`));
});

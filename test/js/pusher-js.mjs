// Drives a running pushgate node's Pusher protocol (/app/{key}) with npm's
// pusher-js 8, as a browser would, and prints what it saw as one JSON
// object on stdout. The Go test (cmd/pushgate/pusher_node_test.go) runs the
// node and an app backend whose endpoints sign channel auth and user
// sign-ins with the Go Pusher server SDK and trigger events through it;
// this script only observes and asks that backend to act.
//
// Usage: node pusher-js.mjs <setup.json>, where setup.json holds
// {host, port, key, backend}.
import { readFileSync } from "node:fs";
import Pusher from "pusher-js";

const setup = JSON.parse(readFileSync(process.argv[2], "utf8"));
const TIMEOUT = 10000;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const out = {};

function connect(user) {
  const headers = { "X-User": user };
  return new Pusher(setup.key, {
    cluster: "local", wsHost: setup.host, wsPort: setup.port, forceTLS: false,
    enabledTransports: ["ws"], disableStats: true,
    channelAuthorization: { endpoint: setup.backend + "/auth", transport: "ajax", headers },
    userAuthentication: { endpoint: setup.backend + "/user-auth", transport: "ajax", headers },
  });
}

// once resolves with the first call of bind(name), or "timeout".
function once(target, name, timeout = TIMEOUT) {
  return new Promise((resolve) => {
    const t = setTimeout(() => { target.unbind(name, h); resolve("timeout"); }, timeout);
    const h = (data) => { clearTimeout(t); target.unbind(name, h); resolve(data ?? null); };
    target.bind(name, h);
  });
}

// collect records every event a channel gets from now on.
function collect(channel) {
  const got = [];
  channel.bind_global((name, data) => { if (!name.startsWith("pusher")) got.push({ name, data }); });
  return got;
}

async function backend(path, body) {
  const res = await fetch(setup.backend + path, { method: "POST", body: JSON.stringify(body) });
  if (res.status !== 200) throw new Error(path + ": " + res.status);
}

async function connected(p) {
  if (p.connection.state !== "connected") await once(p.connection, "connected");
  return p.connection.socket_id;
}

async function subscribed(p, name) {
  const ch = p.subscribe(name);
  const r = await Promise.race([once(ch, "pusher:subscription_succeeded"), once(ch, "pusher:subscription_error")]);
  return { ch, r };
}

async function channels(alice, bob) {
  const news = await subscribed(alice, "news");
  const got = once(news.ch, "hello");
  await backend("/trigger", { channel: "news", event: "hello", data: { x: 1 } });
  out.public = await got;
  const a = await subscribed(alice, "private-room");
  const b = await subscribed(bob, "private-room");
  out.privateSubscribed = [a.r !== "timeout", b.r !== "timeout"];
  const both = [once(a.ch, "order"), once(b.ch, "order")];
  await backend("/trigger", { channel: "private-room", event: "order", data: { id: 7 } });
  out.private = await Promise.all(both);
  const denied = await subscribed(alice, "private-denied");
  out.privateDenied = denied.r;
  // Client events: bob hears alice's, alice does not hear her own.
  const aliceGot = collect(a.ch);
  const heard = once(b.ch, "client-typing");
  a.ch.trigger("client-typing", { on: true });
  out.clientEvent = await heard;
  await sleep(300);
  out.clientEventEcho = aliceGot.length;
}

async function presence(alice, bob) {
  const a = await subscribed(alice, "presence-lobby");
  out.presenceFirst = { count: a.ch.members.count, me: a.ch.members.me };
  const added = [];
  const removed = [];
  a.ch.bind("pusher:member_added", (m) => added.push(m.id));
  a.ch.bind("pusher:member_removed", (m) => removed.push(m.id));
  const b = await subscribed(bob, "presence-lobby");
  out.presenceBob = { count: b.ch.members.count, ids: Object.keys(b.ch.members.members).sort() };
  const alice2 = connect("alice");
  await connected(alice2);
  const a2 = await subscribed(alice2, "presence-lobby");
  out.presenceAlice2 = { count: a2.ch.members.count };
  await sleep(300);
  alice2.disconnect(); // alice still has her first connection: no removal
  await sleep(300);
  bob.unsubscribe("presence-lobby");
  await sleep(500);
  out.presenceEvents = { added, removed };
}

async function user(alice) {
  alice.signin();
  await once(alice.user, "pusher:signin_success").catch(() => null);
  await sleep(300);
  const got = once(alice.user, "notice");
  await backend("/send-to-user", { user: "alice", event: "notice", data: { hi: "alice" } });
  out.userEvent = await got;
  const states = [];
  alice.connection.bind("state_change", (s) => states.push(s.current));
  await backend("/terminate", { user: "alice" });
  await sleep(1500);
  out.afterTerminate = { state: alice.connection.state, states };
}

// restart: the node shuts down and starts again on the same address;
// pusher-js reconnects and subscribes again by itself.
async function restart() {
  const carol = connect("carol");
  await connected(carol);
  const news = await subscribed(carol, "news");
  const states = [];
  carol.connection.bind("state_change", (s) => states.push(s.current));
  await backend("/restart", {});
  for (let i = 0; i < 60 && carol.connection.state !== "connected"; i++) await sleep(250);
  await sleep(500); // the subscription again
  const got = once(news.ch, "again", 5000);
  await backend("/trigger", { channel: "news", event: "again", data: { n: 2 } });
  out.afterRestart = { event: await got, states };
  carol.disconnect();
}

const alice = connect("alice");
const bob = connect("bob");
out.socketIds = [await connected(alice), await connected(bob)];
await channels(alice, bob);
await presence(alice, bob);
await user(alice);
bob.disconnect();
alice.disconnect();
await restart();
process.stdout.write(JSON.stringify(out));
process.exit(0);

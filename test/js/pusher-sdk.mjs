// Drives a running pushgate node with npm's Pusher server SDK ("pusher")
// as an app's backend would, with pusher-js 8 clients whose channel
// authorization and user authentication that SDK signs, and receives the
// app's channel webhooks, which the SDK's own webhook parser validates.
// Prints what it saw as one JSON object on stdout; the Go test
// (cmd/pushgate/pusher_sdk_test.go) runs the node and checks it.
//
// Usage: node pusher-sdk.mjs <setup.json>, where setup.json holds
// {host, port, appId, key, secret, apiKey}.
import { readFileSync } from "node:fs";
import http from "node:http";
import Pusher from "pusher";
import PusherJS from "pusher-js";

const setup = JSON.parse(readFileSync(process.argv[2], "utf8"));
const TIMEOUT = 10000;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const out = {};
const sdk = new Pusher({
  appId: setup.appId, key: setup.key, secret: setup.secret,
  host: setup.host, port: setup.port, useTLS: false,
});

// The app's backend: channel authorization, user authentication and the
// channel webhook endpoint, which fails its first POST (to see it again).
const hooks = { posts: 0, firstId: "", ids: [], events: [], batches: [], valid: [], forgedValid: false, times: [] };
const backend = http.createServer((req, res) => {
  let body = "";
  req.on("data", (c) => { body += c; });
  req.on("end", () => serve(req, res, body));
});

function serve(req, res, body) {
  if (req.url === "/webhook") {
    hooks.posts++;
    if (hooks.posts === 1) {
      hooks.firstId = req.headers["webhook-id"];
      res.writeHead(503).end();
      return;
    }
    const hook = sdk.webhook({ headers: req.headers, rawBody: body });
    const forged = sdk.webhook({ headers: req.headers, rawBody: body.replace("channel", "channeL") });
    hooks.forgedValid ||= forged.isValid();
    hooks.valid.push(hook.isValid());
    if (hook.isValid()) {
      hooks.events.push(...hook.getEvents());
      hooks.batches.push(hook.getEvents().length);
      hooks.times.push(hook.getTime().getTime());
    }
    hooks.ids.push(req.headers["webhook-id"]);
    res.writeHead(200).end();
    return;
  }
  const form = new URLSearchParams(body);
  const user = req.headers["x-user"];
  let answer;
  if (req.url === "/auth") {
    const channel = form.get("channel_name");
    answer = channel.startsWith("presence-")
      ? sdk.authorizeChannel(form.get("socket_id"), channel, { user_id: user, user_info: { name: user.toUpperCase() } })
      : sdk.authorizeChannel(form.get("socket_id"), channel);
  } else if (req.url === "/user-auth") {
    answer = sdk.authenticateUser(form.get("socket_id"), { id: user });
  } else {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(answer));
}

await new Promise((resolve) => backend.listen(0, "127.0.0.1", resolve));
const backendURL = `http://127.0.0.1:${backend.address().port}`;

// The app's settings, before any connection: a connection takes them as
// they are when it opens.
{
  const res = await fetch(`http://${setup.host}:${setup.port}/v1/app`, {
    method: "PATCH", headers: { "x-token": setup.apiKey, "Content-Type": "application/json" },
    body: JSON.stringify({ clientEvents: true, subscriptionCount: true, channelWebhookUrl: backendURL + "/webhook" }),
  });
  out.settings = { status: res.status, body: await res.json() };
}

function connect(user) {
  const headers = { "X-User": user };
  return new PusherJS(setup.key, {
    cluster: "local", wsHost: setup.host, wsPort: setup.port, forceTLS: false,
    enabledTransports: ["ws"], disableStats: true,
    channelAuthorization: { endpoint: backendURL + "/auth", transport: "ajax", headers },
    userAuthentication: { endpoint: backendURL + "/user-auth", transport: "ajax", headers },
  });
}

function once(target, name, timeout = TIMEOUT) {
  return new Promise((resolve) => {
    const t = setTimeout(() => { target.unbind(name, h); resolve("timeout"); }, timeout);
    const h = (data) => { clearTimeout(t); target.unbind(name, h); resolve(data ?? null); };
    target.bind(name, h);
  });
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

// collect records the named events a channel gets from now on.
function collect(channel, names) {
  const got = [];
  for (const n of names) channel.bind(n, (data) => got.push({ name: n, data }));
  return got;
}

// triggers: trigger, trigger excluding a socket, triggerBatch, and the
// channel queries, with subscription counts on the clients.
async function triggers(alice, bob) {
  const a = await subscribed(alice, "news");
  const counts = [];
  a.ch.bind("pusher:subscription_count", (d) => counts.push(d.subscription_count));
  const b = await subscribed(bob, "news");
  const aliceGot = collect(a.ch, ["hello", "skip", "b1"]);
  const bobGot = collect(b.ch, ["hello", "skip", "b1"]);
  await sdk.trigger("news", "hello", { x: 1 });
  await sdk.trigger("news", "skip", { x: 2 }, { socket_id: alice.connection.socket_id });
  const p = await subscribed(alice, "private-room");
  const b2 = once(p.ch, "b2");
  await sdk.triggerBatch([
    { channel: "news", name: "b1", data: { n: 1 } },
    { channel: "private-room", name: "b2", data: { n: 2 } },
  ]);
  out.batchPrivate = await b2;
  await sleep(500);
  out.aliceGot = aliceGot;
  out.bobGot = bobGot;
  out.subscriptionCounts = { seen: counts, property: a.ch.subscriptionCount };
  const list = await sdk.get({ path: "/channels", params: { info: "subscription_count" } });
  out.channels = await list.json();
  const one = await sdk.get({ path: "/channels/news", params: { info: "subscription_count" } });
  out.channel = await one.json();
}

// presence and webhooks: a private channel with a client event, a presence
// channel with two users (alice on two connections), a cache channel; all
// left, then the webhooks they made are waited for.
async function webhooks(alice, bob) {
  const a = await subscribed(alice, "private-hook");
  const b = await subscribed(bob, "private-hook");
  const heard = once(b.ch, "client-typing");
  a.ch.trigger("client-typing", { on: true });
  out.clientEvent = await heard;
  await subscribed(alice, "presence-hook");
  const alice2 = connect("alice");
  await connected(alice2);
  await subscribed(alice2, "presence-hook");
  await subscribed(bob, "presence-hook");
  const users = await sdk.get({ path: "/channels/presence-hook/users" });
  out.users = await users.json();
  await subscribed(bob, "cache-hook");
  // One step at a time, each from its own connection: the order of the
  // webhook events follows.
  for (const step of [
    () => alice.unsubscribe("private-hook"), () => bob.unsubscribe("private-hook"),
    () => alice2.disconnect(), () => alice.unsubscribe("presence-hook"),
    () => bob.unsubscribe("presence-hook"), () => bob.unsubscribe("cache-hook"),
  ]) {
    step();
    await sleep(200);
  }
  const done = (name, channel) => hooks.events.some((e) => e.name === name && e.channel === channel);
  for (let i = 0; i < 150 && !(done("channel_vacated", "presence-hook") && done("channel_vacated", "cache-hook")); i++) await sleep(100);
}

async function signin(alice) {
  alice.signin();
  await once(alice.user, "pusher:signin_success");
  await sleep(300);
  const got = once(alice.user, "notice");
  await sdk.sendToUser("alice", "notice", { hi: "alice" });
  out.userEvent = await got;
}

const alice = connect("alice");
const bob = connect("bob");
await connected(alice);
await connected(bob);
await triggers(alice, bob);
await webhooks(alice, bob);
await signin(alice);
alice.disconnect();
bob.disconnect();
out.hooks = hooks;
backend.close();
process.stdout.write(JSON.stringify(out));
process.exit(0);

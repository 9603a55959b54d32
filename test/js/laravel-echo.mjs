// Drives a running pushgate node with Laravel Echo (npm laravel-echo, its
// Pusher connector over pusher-js 8), set up as a Laravel app sets it up:
// an authEndpoint answered by the app's backend (here npm's Pusher server
// SDK, which also broadcasts the events). Prints what the Echo callbacks
// saw as one JSON object; cmd/pushgate/pusher_sdk_test.go checks it.
//
// Usage: node laravel-echo.mjs <setup.json> ({host, port, appId, key,
// secret, apiKey}).
import { readFileSync } from "node:fs";
import http from "node:http";
import Echo from "laravel-echo";
import Pusher from "pusher";
import PusherJS from "pusher-js";

const setup = JSON.parse(readFileSync(process.argv[2], "utf8"));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const out = {};
const sdk = new Pusher({
  appId: setup.appId, key: setup.key, secret: setup.secret,
  host: setup.host, port: setup.port, useTLS: false,
});

// /broadcasting/auth of the app, for the user named in X-User.
const backend = http.createServer((req, res) => {
  let body = "";
  req.on("data", (c) => { body += c; });
  req.on("end", () => {
    const form = new URLSearchParams(body);
    const channel = form.get("channel_name");
    const user = req.headers["x-user"];
    const auth = channel.startsWith("presence-")
      ? sdk.authorizeChannel(form.get("socket_id"), channel, { user_id: user, user_info: { id: user, name: user.toUpperCase() } })
      : sdk.authorizeChannel(form.get("socket_id"), channel);
    res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(auth));
  });
});
await new Promise((resolve) => backend.listen(0, "127.0.0.1", resolve));
const authEndpoint = `http://127.0.0.1:${backend.address().port}/broadcasting/auth`;

await fetch(`http://${setup.host}:${setup.port}/v1/app`, {
  method: "PATCH", headers: { "x-token": setup.apiKey, "Content-Type": "application/json" },
  body: JSON.stringify({ clientEvents: true }),
});

function echo(user) {
  return new Echo({
    broadcaster: "pusher", Pusher: PusherJS, key: setup.key, cluster: "local",
    wsHost: setup.host, wsPort: setup.port, forceTLS: false, enabledTransports: ["ws"], disableStats: true,
    authEndpoint, auth: { headers: { "X-User": user } },
  });
}

// waitFor polls until check() is true or 10 s pass.
async function waitFor(check) {
  for (let i = 0; i < 100 && !check(); i++) await sleep(100);
}

const alice = echo("alice");
const bob = echo("bob");

// A public channel: Echo.channel().listen with the App.Events namespace,
// and an event named with a leading dot (no namespace).
out.public = [];
alice.channel("orders").listen("OrderShipped", (e) => out.public.push(e))
  .listen(".raw.name", (e) => out.public.push(e));
// A private channel, and a whisper (a client event) between two users.
out.private = [];
out.whisper = [];
alice.private("orders.1").listen("OrderShipped", (e) => out.private.push(e))
  .listenForWhisper("typing", (e) => out.whisper.push(e));
bob.private("orders.1");
// A presence channel: here, joining, leaving.
out.here = {};
out.joining = [];
out.leaving = [];
alice.join("chat").here((users) => { out.here.alice = users.map((u) => u.id); })
  .joining((u) => out.joining.push(u.id)).leaving((u) => out.leaving.push(u.id));
await waitFor(() => out.here.alice);
bob.join("chat").here((users) => { out.here.bob = users.map((u) => u.id).sort(); });
await waitFor(() => out.here.bob && out.joining.length > 0);
await sleep(500); // the public and private subscriptions

await sdk.trigger("orders", "App\\Events\\OrderShipped", { id: 1 });
await sdk.trigger("orders", "raw.name", { id: 2 });
await sdk.trigger("private-orders.1", "App\\Events\\OrderShipped", { id: 3 });
bob.private("orders.1").whisper("typing", { user: "bob" });
await waitFor(() => out.public.length >= 2 && out.private.length >= 1 && out.whisper.length >= 1);
bob.leave("chat");
await waitFor(() => out.leaving.length > 0);
await sleep(300);
out.socketId = alice.socketId();
alice.disconnect();
bob.disconnect();
backend.close();
process.stdout.write(JSON.stringify(out));
process.exit(0);

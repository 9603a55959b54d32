// Drives a running pushgate node as a notification-server deployment is
// driven: the backend's REST calls (shaped as notification-server's README
// shows them with curl) and browser tabs using npm's socket.io-client@4.
// It prints what it saw as one JSON object on stdout; the Go test
// (cmd/pushgate/socketio_node_test.go) asserts it.
//
// Usage: node socketio-compat.mjs <base> <authToken> <transport> <ttlMs> [socketBase],
// transport one of websocket, polling, upgrade (polling, then the
// upgrade to WebSocket: the client's default), or keep (WebSocket, on an
// app with compatKeepOffline set). SOCKETIO_DEBUG=1 prints
// progress on stderr.
import { io } from "socket.io-client";

const [base, token, mode, ttlArg, socketBaseArg] = process.argv.slice(2);
const socketBase = socketBaseArg || base; // the node the tabs connect to (the REST calls go to base)
const ttlMs = Number(ttlArg);
const debug = process.env.SOCKETIO_DEBUG ? (...a) => console.error(mode, ...a) : () => {};
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const run = Math.random().toString(36).slice(2, 8);
const transports = { websocket: ["websocket"], polling: ["polling"], upgrade: ["polling", "websocket"], keep: ["websocket"] }[mode];

async function rest(method, path, { auth = token, body, contentType = "application/json" } = {}) {
  const headers = {};
  if (auth !== null) headers["X-AUTH-TOKEN"] = auth;
  if (body !== undefined) headers["Content-Type"] = contentType;
  const res = await fetch(base + path, { method, headers, body });
  return { status: res.status, body: await res.text(), type: res.headers.get("content-type") };
}

// A tab: a socket and the events it heard, in order.
class Tab {
  constructor(name) {
    this.name = name;
    this.events = [];
    this.socket = io(socketBase, { transports, forceNew: true, reconnection: false, timeout: 10000 });
    for (const ev of ["message", "error", "registered"]) {
      this.socket.on(ev, (arg) => { debug(name, ev, JSON.stringify(arg)); this.events.push({ [ev]: arg }); });
    }
    this.socket.on("disconnect", (reason) => this.events.push({ disconnect: reason }));
  }
  connected() {
    return new Promise((resolve, reject) => {
      if (this.socket.connected) return resolve();
      this.socket.once("connect", resolve);
      this.socket.once("connect_error", reject);
    });
  }
  // register and wait for its answer: registered, or an error event.
  async register(user, conn) {
    await this.connected();
    const before = this.events.length;
    this.socket.emit("register", user, conn);
    for (let i = 0; i < 200 && this.events.length === before; i++) await sleep(25);
    return this.events.slice(before);
  }
  messages() { return this.events.filter((e) => "message" in e).map((e) => e.message); }
  transport() { return this.socket.io.engine.transport.name; }
  upgraded() {
    return new Promise((resolve) => {
      const engine = this.socket.io.engine;
      if (engine.transport.name === "websocket") return resolve(true);
      engine.once("upgrade", () => resolve(true));
      setTimeout(() => resolve(false), 10000);
    });
  }
}

// waitFor polls until cond() or the timeout.
async function waitFor(cond, ms = 10000) {
  for (let t = 0; t < ms && !cond(); t += 25) await sleep(25);
  return cond();
}

async function restChecks(out) {
  const user = `rest-${run}`;
  out.rest = {
    ping: await rest("GET", "/api/status/ping", { auth: null }),
    info: await rest("GET", "/api/status/info", { auth: null }),
    registerNoToken: (await rest("PUT", `/api/${user}/register?connectionId=x${run}`, { auth: null })).status,
    registerBadToken: (await rest("PUT", `/api/${user}/register?connectionId=x${run}`, { auth: "wrong" })).status,
    registerNoConnectionId: (await rest("PUT", `/api/${user}/register`)).status,
    registerOtherQuery: (await rest("PUT", `/api/${user}/register?q=x`)).status,
    register: await rest("PUT", `/api/${user}/register?connectionId=x${run}`, { body: "{}" }),
    registerAgain: (await rest("PUT", `/api/${user}/register?connectionId=x${run}`, { body: "{}" })).status,
    registerTaken: (await rest("PUT", `/api/other-${user}/register?connectionId=x${run}`)).status,
    pushNoToken: (await rest("POST", `/api/${user}/push`, { auth: null, body: '{"message":"m"}' })).status,
    pushBadToken: (await rest("POST", `/api/${user}/push`, { auth: token + "x", body: '{"message":"m"}' })).status,
    pushEmpty: (await rest("POST", `/api/${user}/push`, { body: "{}" })).status,
    pushOtherKey: (await rest("POST", `/api/${user}/push`, { body: '{"someKey":"someValue"}' })).status,
    pushNull: (await rest("POST", `/api/${user}/push`, { body: '{"message":null}' })).status,
    pushMalformed: (await rest("POST", `/api/${user}/push`, { body: '{"message":' })).status,
    pushArray: (await rest("POST", `/api/${user}/push`, { body: "[1]" })).status,
    pushNoBody: (await rest("POST", `/api/${user}/push`)).status,
    push: await rest("POST", `/api/${user}/push`, { body: '{"message":"some message"}' }),
  };
}

async function socketChecks(out) {
  const alice = `alice-${run}`, bob = `bob-${run}`;
  const ids = { a1: `a1-${run}`, a2: `a2-${run}`, b1: `b1-${run}`, old: `old-${run}` };
  for (const [k, u] of [["a1", alice], ["a2", alice], ["b1", bob], ["old", alice]]) {
    await rest("PUT", `/api/${encodeURIComponent(u)}/register?connectionId=${ids[k]}`);
  }
  const registeredAt = Date.now();
  const tab1 = new Tab("tab1"), tab2 = new Tab("tab2"), wrong = new Tab("wrong"), other = new Tab("other"), late = new Tab("late");
  out.register = {
    tab1: await tab1.register(alice, ids.a1),
    tab2: await tab2.register(alice, ids.a2),
    unknown: await wrong.register(alice, `nope-${run}`),
    otherUser: await other.register(alice, ids.b1),
    invalid: await late.register(alice),
  };
  if (mode === "upgrade") {
    out.upgraded = (await Promise.all([tab1.upgraded(), tab2.upgraded()])).every(Boolean);
  }
  out.transports = [tab1.transport(), tab2.transport()];
  const pushed = [{ title: "Title of message", body: "Body of message", params: {} }, "text", 42, [1, { k: "v" }], true];
  for (const m of pushed) await rest("POST", `/api/${alice}/push`, { body: JSON.stringify({ message: m }) });
  await waitFor(() => tab1.messages().length >= pushed.length && tab2.messages().length >= pushed.length);
  await sleep(300); // a wrong tab has had time to hear it, were it to
  out.received = { tab1: tab1.messages(), tab2: tab2.messages(), unknown: wrong.messages(), otherUser: other.messages() };

  // Expiry: the connectionId registered first has gone unused for longer than the TTL.
  await sleep(Math.max(0, registeredAt + ttlMs + 300 - Date.now()));
  out.register.expired = await late.register(alice, ids.old);

  // Disconnect: tab1 leaves; tab2 alone hears the next push.
  tab1.socket.disconnect();
  await rest("POST", `/api/${alice}/push`, { body: '{"message":"after disconnect"}' });
  await waitFor(() => tab2.messages().length > pushed.length);
  await sleep(200);
  out.afterDisconnect = { tab1: tab1.messages().length, tab2: tab2.messages().slice(pushed.length), tab1Connected: tab1.socket.connected };
  out.late = late.messages();
  for (const t of [tab2, wrong, other, late]) t.socket.disconnect();
}

// keepChecks runs against an app with compatKeepOffline: pushes to a user
// with no tab wait for the next register; what a tab had is not replayed.
async function keepChecks(out) {
  const carol = `carol-${run}`, c1 = `k1-${run}`, c2 = `k2-${run}`;
  for (const c of [c1, c2]) await rest("PUT", `/api/${carol}/register?connectionId=${c}`);
  for (const m of [{ n: 1 }, "two"]) await rest("POST", `/api/${carol}/push`, { body: JSON.stringify({ message: m }) });
  const tab1 = new Tab("tab1");
  out.register = { tab1: await tab1.register(carol, c1) };
  await waitFor(() => tab1.messages().length >= 2);
  await rest("POST", `/api/${carol}/push`, { body: '{"message":"live"}' });
  await waitFor(() => tab1.messages().length >= 3);
  await sleep(500); // the tab's deliveries are recorded
  const tab2 = new Tab("tab2");
  out.register.tab2 = await tab2.register(carol, c2);
  await sleep(500);
  out.received = { tab1: tab1.messages(), tab2: tab2.messages() };
  for (const t of [tab1, tab2]) t.socket.disconnect();
}

const out = { mode };
try {
  if (mode === "keep") {
    await keepChecks(out);
  } else {
    await restChecks(out);
    await socketChecks(out);
  }
} catch (e) {
  out.failure = String(e && e.stack || e);
}
process.stdout.write(JSON.stringify(out) + "\n");
process.exit(0);

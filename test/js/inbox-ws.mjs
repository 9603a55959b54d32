// Drives a running pushgate node's /v1/ws (the pushgate.v1 protocol) with
// npm's ws client, as a browser or an app would, and prints what it saw as
// one JSON object on stdout. The Go test (cmd/pushgate/ws_node_test.go) sets
// the node up, runs this and asserts the results; this script only
// observes, except for the bad-frame table, whose documented answers
// (docs/realtime.md) are written next to each frame.
//
// Usage: node inbox-ws.mjs <setup.json>, where setup.json holds
// {base, apiKey, alice, bob, revoked, pending, expired, bobNote, maxFrame}.
// INBOX_WS_DEBUG=1 prints each stage's progress on stderr.
import { readFileSync } from "node:fs";
import WebSocket from "ws";

const setup = JSON.parse(readFileSync(process.argv[2], "utf8"));
const wsBase = setup.base.replace(/^http/, "ws") + "/v1/ws";
const TIMEOUT = 15000;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// A session: frames arrive in a queue that next() takes from.
class Session {
  constructor(ws) {
    this.ws = ws;
    this.frames = [];
    this.waiters = [];
    this.closed = null;
    ws.on("message", (data, binary) => this.push(binary ? { binary: true } : JSON.parse(data.toString())));
    ws.on("close", (code) => { this.closed = code; this.push({ closed: code }); });
    ws.on("error", () => {});
  }
  push(f) {
    const w = this.waiters.shift();
    if (w) w(f); else this.frames.push(f);
  }
  next(timeout = TIMEOUT) {
    if (this.frames.length) return Promise.resolve(this.frames.shift());
    if (this.closed !== null) return Promise.resolve({ closed: this.closed });
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.waiters = this.waiters.filter((w) => w !== done); resolve({ timeout: true }); }, timeout);
      const done = (f) => { clearTimeout(t); resolve(f); };
      this.waiters.push(done);
    });
  }
  send(frame) {
    if (Buffer.isBuffer(frame)) this.ws.send(frame, { binary: true });
    else this.ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }
  // Frames up to the next frame of type typ (included), or a close.
  async until(typ) {
    const got = [];
    for (;;) {
      const f = await this.next();
      got.push(f);
      if (f.type === typ || f.closed !== undefined || f.timeout) return got;
    }
  }
  // Frames the server sent before answering a ping: the server answers a
  // session's frames in order, after hello and the pending notifications.
  async barrier(ref) {
    this.send({ type: "ping", ref });
    const got = await this.until("pong");
    return got.slice(0, -1);
  }
  // The close code, once the server closes.
  async closeCode() {
    for (;;) {
      const f = await this.next();
      if (f.closed !== undefined) return f.closed;
      if (f.timeout) return null;
    }
  }
  close() { this.ws.close(); }
}

// connect opens a session, or reports the HTTP answer that refused it.
function connect({ query = "", protocols, headers, autoPong = true } = {}) {
  return new Promise((resolve) => {
    const ws = new WebSocket(wsBase + query, protocols, { headers, autoPong });
    const s = new Session(ws);
    ws.on("open", () => resolve({ session: s, protocol: ws.protocol }));
    ws.on("unexpected-response", (req, res) => {
      let body = "";
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode, body: JSON.parse(body || "null") }));
    });
    ws.on("error", (err) => resolve({ error: String(err) }));
  });
}

async function rest(method, path, token, body) {
  const res = await fetch(setup.base + path, {
    method, body: body && JSON.stringify(body),
    headers: { authorization: "Bearer " + token, "content-type": "application/json" },
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

const api = (method, path, body) => rest(method, path, setup.apiKey, body);

// Refused before the upgrade: no token, an unknown one, a revoked one.
async function refusals() {
  const out = {};
  out.none = await connect();
  out.unknown = await connect({ query: "?token=pgt_" + "A".repeat(43) });
  out.revoked = await connect({ protocols: ["pushgate.v1", "token." + setup.revoked] });
  out.bearerRevoked = await connect({ headers: { authorization: "Bearer " + setup.revoked } });
  out.apiKey = await connect({ headers: { authorization: "Bearer " + setup.apiKey } });
  return out;
}

// (a) The offline user's queued notifications, then (b) two sessions in
// step, live notifications, read_all, a retraction and history.
async function aliceDevices(out) {
  const phone = await connect({ protocols: ["pushgate.v1", "token." + setup.alice] });
  out.phoneProtocol = phone.protocol;
  out.replay = await phone.session.barrier("after-replay");
  phone.session.send({ type: "ack", ids: setup.pending });
  out.afterAck = await phone.session.next();

  const tab = await connect({ headers: { authorization: "Bearer " + setup.alice } });
  out.tabProtocol = tab.protocol;
  out.tabReplay = await tab.session.barrier("tab");
  tab.session.send({ type: "read", ids: [setup.pending[0]] });
  out.afterRead = { phone: await phone.session.next(), tab: await tab.session.next() };

  const live = await api("POST", "/v1/notifications", { title: "live", message: "while online", priority: 8, extras: { orderId: 7 }, clickUrl: "https://shop.example/o/7", to: { userIds: ["alice"] } });
  out.live = { id: live.body.id, phone: [await phone.session.next(), await phone.session.next()], tab: [await tab.session.next(), await tab.session.next()] };

  // A read through the REST inbox reaches the sessions too.
  out.restReadStatus = (await rest("POST", "/v1/inbox/" + live.body.id + "/read", setup.alice)).status;
  out.afterRestRead = { phone: await phone.session.next(), tab: await tab.session.next() };

  phone.session.send({ type: "read_all", ref: "ra" });
  out.afterReadAll = { phone: await phone.session.next(), tab: await tab.session.next() };

  const gone = await api("POST", "/v1/notifications", { title: "oops", to: { userIds: ["alice"] } });
  await phone.session.next(); await phone.session.next(); await tab.session.next(); await tab.session.next();
  out.retractStatus = (await api("DELETE", "/v1/notifications/" + gone.body.id)).status;
  out.retracted = { id: gone.body.id, phone: [await phone.session.next(), await phone.session.next()], tab: [await tab.session.next(), await tab.session.next()] };

  tab.session.send({ type: "history", status: "seen", limit: 2, ref: "h1" });
  out.history1 = await tab.session.next();
  tab.session.send({ type: "history", status: "seen", limit: 2, cursor: out.history1.cursor, ref: "h2" });
  out.history2 = await tab.session.next();
  tab.session.send({ type: "delete", ids: [live.body.id] });
  out.afterDelete = { phone: await phone.session.next(), tab: await tab.session.next() };
  return phone;
}

// (c) Alice acts on bob's notification: nothing changes for bob.
async function crossUser(out, phone) {
  const id = setup.bobNote;
  for (const type of ["ack", "read", "delete"]) phone.session.send({ type, ids: [id] });
  phone.session.send({ type: "read_all" });
  out.crossAnswers = await phone.session.barrier("cross");
  phone.session.send({ type: "history", status: "all", limit: 100 });
  const h = await phone.session.next();
  out.aliceHistoryIds = h.items.map((i) => i.id);
  out.aliceGetsBobs = (await rest("GET", "/v1/inbox/" + id, setup.alice)).status;
  out.bobItem = await rest("GET", "/v1/inbox/" + id, setup.bob);
  out.bobCount = (await rest("GET", "/v1/inbox/unseen-count", setup.bob)).body;
  const bob = await connect({ query: "?token=" + encodeURIComponent(setup.bob) });
  out.bobReplay = await bob.session.barrier("bob");
  bob.session.close();
}

const big = "x".repeat(70);
// The documented answer of each bad frame: an error frame's code, or
// "none" when the frame is ignored (the next answer is the pong).
const badFrames = [
  ["not JSON", "not json", "malformed"],
  ["JSON array", "[]", "malformed"],
  ["JSON string", '"ping"', "malformed"],
  ["JSON number", "42", "malformed"],
  ["JSON null", "null", "malformed"],
  ["truncated object", '{"type":"ping"', "malformed"],
  ["no type", "{}", "malformed"],
  ["numeric type", '{"type":7}', "malformed"],
  ["empty type", '{"type":""}', "malformed"],
  ["unknown type", '{"type":"subscribe"}', "unknown_type"],
  ["type in capitals", '{"type":"PING"}', "unknown_type"],
  ["a server frame's type", '{"type":"hello"}', "unknown_type"],
  ["ack without ids", '{"type":"ack"}', "invalid"],
  ["ids a string", '{"type":"ack","ids":"x"}', "invalid"],
  ["ids empty", '{"type":"ack","ids":[]}', "invalid"],
  ["ids null", '{"type":"delete","ids":null}', "invalid"],
  ["ids numbers", '{"type":"read","ids":[1]}', "invalid"],
  ["an empty id", '{"type":"read","ids":[""]}', "invalid"],
  ["an id over 64 characters", JSON.stringify({ type: "read", ids: [big] }), "invalid"],
  ["101 ids", JSON.stringify({ type: "delete", ids: Array(101).fill("x") }), "invalid"],
  ["history status unknown", '{"type":"history","status":"new"}', "invalid"],
  ["history status a number", '{"type":"history","status":1}', "invalid"],
  ["history since not RFC 3339", '{"type":"history","since":"yesterday"}', "invalid"],
  ["history limit 0", '{"type":"history","limit":0}', "invalid"],
  ["history limit 101", '{"type":"history","limit":101}', "invalid"],
  ["history limit fractional", '{"type":"history","limit":2.5}', "invalid"],
  ["history limit a string", '{"type":"history","limit":"5"}', "invalid"],
  ["history cursor a number", '{"type":"history","cursor":5}', "invalid"],
  ["history cursor forged", '{"type":"history","cursor":"forged"}', "invalid"],
  ["ref an object", '{"type":"ping","ref":{"a":1}}', "invalid"],
  ["ref over 64 characters", JSON.stringify({ type: "ping", ref: big }), "invalid"],
  ["binary frame", Buffer.from([0x7b, 0x7d]), "binary"],
  ["ids that are no notification's", '{"type":"read","ids":["not-a-notification"]}', "none"],
  ["unknown fields beside the type", '{"type":"read_all","extra":{"x":1}}', "none"],
];

// (d) Every bad frame gets its answer on one session, which lives on; an
// oversized frame closes with 1009, a flood with 1008; the node serves on.
async function hostile(out) {
  const { session } = await connect({ query: "?token=" + setup.alice });
  out.hostileReplay = await session.barrier("hostile");
  out.badFrames = [];
  for (const [i, [name, frame, want]] of badFrames.entries()) {
    // Two frames a row, under the 20 frames a second a session may send.
    await sleep(120);
    // A ref, where the frame has none and a type to put it beside, comes back.
    const withRef = typeof frame === "string" && !frame.includes('"ref"') ? frame.replace(/^\{"type":/, `{"ref":"r${i}","type":`) : frame;
    session.send(withRef);
    const answers = await session.barrier("b" + i);
    const f = answers[0];
    const closed = session.closed !== null ? "closed " + session.closed : null;
    const got = closed || (answers.length === 0 ? "none" : f.type === "error" ? f.code : JSON.stringify(f));
    out.badFrames.push({ name, want, got, answers: answers.length, message: f && f.message, ref: f && f.ref });
  }
  out.pingAfterBadFrames = await session.barrier("alive");
  session.close();

  const tooBig = await connect({ query: "?token=" + setup.alice });
  await tooBig.session.barrier("big");
  tooBig.session.send(JSON.stringify({ type: "ping", ref: "y".repeat(setup.maxFrame) }));
  out.oversizedClose = await tooBig.session.closeCode();

  const flood = await connect({ query: "?token=" + setup.alice });
  await flood.session.barrier("flood");
  // Each ping waits for its pong, so the server has read every frame when
  // it closes: a close frame is lost when it closes on frames still unread
  // (the peer then sees 1006).
  for (let i = 0; i < 200 && flood.session.closed === null; i++) await flood.session.barrier("f" + i);
  out.floodClose = await flood.session.closeCode();

  const after = await connect({ query: "?token=" + setup.alice });
  out.afterAbuse = await after.session.until("hello");
  after.session.send({ type: "ping", ref: "still" });
  out.pongAfterAbuse = await after.session.until("pong");
  after.session.close();
}

// A session that answers no pings is closed after two heartbeats.
async function silent(out) {
  const { session } = await connect({ query: "?token=" + setup.alice, autoPong: false });
  out.silentHello = await session.next();
  out.silentClose = await session.closeCode();
}

const out = {};
const stage = (s) => process.env.INBOX_WS_DEBUG && console.error("stage:", s, JSON.stringify(out).slice(-300));
out.refusals = await refusals();
stage("refusals");
const phone = await aliceDevices(out);
stage("alice");
await crossUser(out, phone);
stage("cross");
phone.session.close();
await hostile(out);
stage("hostile");
await silent(out);
console.log(JSON.stringify(out));
process.exit(0);

// Real npm clients that a Go test steers step by step: npm's ws
// (WebSocket sessions), npm's eventsource (an EventSource that reconnects
// by itself with Last-Event-ID) and a webhook receiver that checks every
// request with npm's standardwebhooks. The Go tests in cmd/pushgate
// (live_clients_test.go) write one command a line on stdin and read one
// observation a line on stdout; this script only does what it is told and
// reports what the libraries saw.
//
// Commands ({"op": ...}):
//   ws {name, url, token}        open a session (token as Authorization: Bearer)
//   send {name, frame}           send a frame (an object) on a session
//   close {name}                 close a session or an EventSource
//   sse {name, url}              open an EventSource (the token in url's ?token=)
//   webhooks {}                  start the webhook receiver
//   secret {secret}              the secret the receiver verifies with
// Observations ({"name", "kind", ...}):
//   open, refused {status}, frame {frame}, closed {code}      (ws)
//   connect {lastEventId}, event {event, id, data}, error {message}  (sse)
//   webhooks {url}, webhook {id, ok, tamperedPassed, error, events}  (name "webhooks")
import { createServer } from "node:http";
import { createInterface } from "node:readline";
import WebSocket from "ws";
import { EventSource } from "eventsource";
import { Webhook } from "standardwebhooks";

const report = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const clients = new Map();

function openWS({ name, url, token }) {
  const ws = new WebSocket(url, { headers: { authorization: "Bearer " + token } });
  clients.set(name, ws);
  ws.on("open", () => report({ name, kind: "open" }));
  ws.on("unexpected-response", (req, res) => {
    report({ name, kind: "refused", status: res.statusCode });
    res.resume();
  });
  ws.on("message", (data) => report({ name, kind: "frame", frame: JSON.parse(data.toString()) }));
  ws.on("close", (code) => report({ name, kind: "closed", code }));
  ws.on("error", () => {});
}

// The EventSource's own fetch is wrapped only to report the Last-Event-ID
// the library sends on each (re)connection.
function openSSE({ name, url }) {
  const observed = (input, init) => {
    report({ name, kind: "connect", lastEventId: init.headers["Last-Event-ID"] ?? "" });
    return fetch(input, init);
  };
  const es = new EventSource(url, { fetch: observed });
  clients.set(name, es);
  for (const type of ["hello", "notification", "unseen", "retracted"]) {
    es.addEventListener(type, (e) => report({ name, kind: "event", event: type, id: e.lastEventId, data: JSON.parse(e.data) }));
  }
  // The server's own "error" events carry data; the library's connection
  // errors (after which it reconnects) do not.
  es.addEventListener("error", (e) => {
    if (e.data !== undefined) report({ name, kind: "event", event: "error", id: e.lastEventId, data: JSON.parse(e.data) });
    else report({ name, kind: "error", message: String(e.message ?? "") });
  });
}

let secret = null;
function startWebhooks() {
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const out = { name: "webhooks", kind: "webhook", id: req.headers["webhook-id"] ?? "", ok: false, tamperedPassed: false, error: "", events: [] };
      try {
        const wh = new Webhook(secret);
        const payload = wh.verify(body, req.headers);
        out.ok = true;
        try {
          wh.verify(body.replace('"messages"', '"Messages"'), req.headers);
          out.tamperedPassed = true;
        } catch {}
        out.events = payload.messages.map((m) => ({ messageId: m.messageId, foreignId: m.foreignId, kind: m.result.kind }));
      } catch (err) {
        out.error = String(err);
      }
      report(out);
      res.writeHead(out.ok ? 204 : 401).end();
    });
  });
  server.listen(0, "127.0.0.1", () => report({ name: "webhooks", kind: "webhooks", url: `http://127.0.0.1:${server.address().port}/hooks` }));
  clients.set("webhooks", server);
}

const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  const c = JSON.parse(line);
  switch (c.op) {
    case "ws": openWS(c); break;
    case "send": clients.get(c.name).send(JSON.stringify(c.frame)); break;
    case "close": clients.get(c.name).close(); break;
    case "sse": openSSE(c); break;
    case "webhooks": startWebhooks(); break;
    case "secret": secret = c.secret; break;
    default: report({ name: "driver", kind: "bad-command", command: c });
  }
});
lines.on("close", () => process.exit(0));

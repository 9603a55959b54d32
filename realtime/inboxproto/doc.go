// Package inboxproto is pushgate's own realtime protocol, pushgate.v1: the
// JSON frames a client-token session at /v1/ws exchanges with the server
// (docs/realtime.md documents them frame by frame). It renders the hub's
// messages into frames, greets a new session with hello and the user's
// pending notifications, and answers the client's frames (ack, read,
// read_all, delete, history, ping) through the user's inbox.
//
// The same server frames go out as Server-Sent Events at /v1/sse (SSE,
// ServeSSE; docs/realtime.md): event = frame type, data = the frame's
// JSON, and on notifications an id (EventID, a position in the inbox by
// creation time and id) that Last-Event-ID resumes after. An SSE session
// has no client frames (clients act through the inbox REST routes), and
// since SSE has no close codes a stream ends after an error event
// (token_revoked, going_away, slow_consumer, internal).
//
// It imports the realtime hub, the inbox domain and the WebSocket
// transport (SSE needs only net/http): the hub itself (package realtime) stays protocol-neutral and
// imports only the root package, and each wire protocol is a package of
// its own on top of it.
package inboxproto

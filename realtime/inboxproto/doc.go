// Package inboxproto is pushgate's own realtime protocol, pushgate.v1: the
// JSON frames a client-token session at /v1/ws exchanges with the server
// (docs/realtime.md documents them frame by frame). It renders the hub's
// messages into frames, greets a new session with hello and the user's
// pending notifications, and answers the client's frames (ack, read,
// read_all, delete, history, ping) through the user's inbox.
//
// It imports the realtime hub, the inbox domain and the WebSocket
// transport: the hub itself (package realtime) stays protocol-neutral and
// imports only the root package, and each wire protocol is a package of
// its own on top of it.
package inboxproto

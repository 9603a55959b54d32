// Package socketio is notification-server's side of pushgate: the
// connectionIds a backend registers for its users (Connections, in Redis,
// shared by every node), the pushes its REST API sends (Pusher), and the
// Socket.IO v4 endpoint (Handler, Engine.IO 4 over WebSocket and HTTP
// long-polling) whose clients emit('register', userId, connectionId) and
// hear every push as a `message` event.
//
// A registered Socket.IO socket is a session of the realtime hub under the
// user's id, like the user's /v1/ws sessions: a push reaches every tab on
// every node through the hub's broker, and a stored notification (the
// inbox's, or a push kept for an offline user under the app's
// compatKeepOffline) reaches the Socket.IO tabs too.
//
// It imports the hub, the inbox domain, go-redis and the Socket.IO server
// library; it never touches HTTP routing (httpapi mounts Handler) nor the
// database (the inbox does).
package socketio

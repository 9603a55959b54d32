// Package httpapi is the HTTP face of pushgate: the Gin router, middleware
// (request ids, access logs, metrics, body limits and deadlines, API-key
// auth, panic recovery) and the handlers of every REST route in
// openapi.yaml.
//
// It declares the interfaces it calls and never reaches into delivery or
// storage internals. Every error leaves through writeError, which is the one
// place that maps error codes to HTTP statuses.
//
// # Surfaces
//
// The router is a set of groups, one per kind of caller (surfaces.go); a
// route's group decides its authentication and its middleware. Groups share
// path prefixes: /v1 holds API-key, client-token and stream routes side by
// side, each with its own chain.
//
//	group    routes                                   auth                        middleware
//	ops      /healthz /readyz /metrics /openapi.yaml  none                        timed
//	public   / /api/status/* /cdn/{key}               none                        timed
//	         /v1/context/{id}/events/*                none (message id), rate     timed, CORS
//	                                                  limit per client address
//	core     /v1/app... /v1/bucket...                 app API key                 timed
//	         /v1/tokens... GET, DELETE /v1/notif...
//	         /v1/images                                                           timed, larger body
//	client   /v1/inbox...                             client token (pgt_...), or  timed, CORS
//	                                                  the app's connectAuthUrl
//	         POST /v1/notifications                   client token or API key     timed, CORS
//	streams  /v1/ws /v1/sse /app/{key} /socket.io/    per route, before the       untimed
//	         (/v1/ws, /v1/sse: issue 13)              upgrade or stream; /v1/ws
//	                                                  and /v1/sse as /v1/inbox
//
// "the app's connectAuthUrl": a request with no client token that names its
// app (?app=, X-Pushgate-App) is authenticated by the app's answer to its
// cookies (connectauth.go, ConnectAuthenticator); its Origin must be one of
// the app's allowedOrigins, since a browser sends cookies from any page.
//
// "timed" is, in order: request id, metrics and access log (observe), panic
// recovery, CORS of the client events, the NUL check, the body deadline
// (boundBody) and the body size limit (limitBody). Unknown routes and
// methods get the same chain. "untimed" is request id, panic recovery and
// the NUL check only: a connection that lives for hours is no request
// duration for the metrics or the access log, and has no body to bound.
// The Pusher HTTP API (/apps/{appId}/...) and notification-server's
// /api/{userId}/... will be groups of their own made from public, each with
// its own credential check (Pusher's request signature, X-AUTH-TOKEN).
//
// A stream route authenticates before it upgrades, reads no body or bounds
// the one it reads itself, and hands a hijacked connection (or a stream
// net/http would wait for) to the server's connection registry
// (internal/conns), which closes it on shutdown: http.Server.Shutdown does
// not close hijacked connections, and waits for streams until its deadline.
//
// Rules for a new route:
//   - read a JSON body only through readBody or decodeJSON: they hold the
//     size limit and refuse strings with a NUL character, which PostgreSQL
//     cannot store (paths and queries are checked in middleware);
//   - a body has http_body_timeout to arrive (boundBody); a route that takes
//     more than max_body_bytes adds allowLargeBody after authentication;
//   - a handler that keeps its connection open after reading a body, or
//     streams one in, clears the deadline first:
//     http.NewResponseController(c.Writer).SetReadDeadline(time.Time{}).
//     Requests without a body (SSE, WebSocket upgrades) have none to clear.
package httpapi

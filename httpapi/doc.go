// Package httpapi is the HTTP face of pushgate: the Gin router, middleware
// (request ids, access logs, metrics, body limits and deadlines, API-key
// auth, panic recovery) and the handlers of every REST route in
// openapi.yaml.
//
// It declares the interfaces it calls and never reaches into delivery or
// storage internals. Every error leaves through writeError, which is the one
// place that maps error codes to HTTP statuses.
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

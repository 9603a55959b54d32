// Package httpapi is the HTTP face of pushgate: the Gin router, middleware
// (request ids, access logs, metrics, body limits, API-key auth, panic
// recovery) and the handlers of every REST route in openapi.yaml.
//
// It declares the interfaces it calls and never reaches into delivery or
// storage internals. Every error leaves through writeError, which is the one
// place that maps error codes to HTTP statuses.
package httpapi

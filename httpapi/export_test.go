package httpapi

import "github.com/gin-gonic/gin"

// HandleForTest adds a route that the spec does not know, for tests of
// middleware behaviour (panics, slow handlers).
func (h *Handler) HandleForTest(method, path string, fn gin.HandlerFunc) {
	h.groups.ops.Handle(method, path, fn)
}

// CheckText is checkText, for its benchmark.
var CheckText = checkText

// HandleClientForTest adds a route to the client-token group (/v1, no API
// key), as issue 13's inbox routes will be.
func (h *Handler) HandleClientForTest(method, path string, fn gin.HandlerFunc) {
	h.groups.client.Handle(method, path, fn)
}

// HandleStreamForTest adds a route to the group of long-lived
// connections, as /v1/ws and /v1/sse will be.
func (h *Handler) HandleStreamForTest(method, path string, fn gin.HandlerFunc) {
	h.groups.streams.Handle(method, path, fn)
}

// WriteErrorForTest is writeError, for tests of the error answers.
func (h *Handler) WriteErrorForTest(c *gin.Context, err error) { h.writeError(c, err) }

package httpapi

import "github.com/gin-gonic/gin"

// HandleForTest adds a route that the spec does not know, for tests of
// middleware behaviour (panics, slow handlers).
func (h *Handler) HandleForTest(method, path string, fn gin.HandlerFunc) {
	h.engine.Handle(method, path, fn)
}

// CheckText is checkText, for its benchmark.
var CheckText = checkText

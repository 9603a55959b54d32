package httpapi

import "github.com/gin-gonic/gin"

// HandleForTest adds a route that the spec does not know, for tests of
// middleware behaviour (panics, slow handlers).
func (h *Handler) HandleForTest(method, path string, fn gin.HandlerFunc) {
	h.engine.Handle(method, path, fn)
}

// CheckNUL is checkNUL, for its benchmark.
var CheckNUL = checkNUL

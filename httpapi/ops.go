package httpapi

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pushgate/pushgate"
)

// routeOps adds the routes every node serves, whatever its roles.
func (h *Handler) routeOps(e *gin.RouterGroup) {
	e.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	e.GET("/readyz", h.readyz)
	metrics := promhttp.HandlerFor(h.opts.Registry, promhttp.HandlerOpts{})
	e.GET("/metrics", gin.WrapH(metrics))
	e.GET("/openapi.yaml", func(c *gin.Context) {
		c.Data(http.StatusOK, "application/yaml; charset=utf-8", pushgate.OpenAPI)
	})
}

// routeStatus adds the hello and status routes of the API surfaces.
func (h *Handler) routeStatus(e *gin.RouterGroup) {
	// CORE's hello world.
	e.GET("/", func(c *gin.Context) {
		c.JSON(http.StatusOK, gin.H{
			"currentVersion": pushgate.Version,
			"name":           pushgate.Name,
			"github":         "https://github.com/pushgate/pushgate",
		})
	})
	// notification-server's status routes.
	e.GET("/api/status/ping", func(c *gin.Context) { c.String(http.StatusOK, "pong") })
	e.GET("/api/status/info", func(c *gin.Context) {
		c.JSON(http.StatusOK, gin.H{"name": pushgate.Name, "version": pushgate.Version})
	})
}

// readyz runs every check at once, with a deadline, and answers 503 naming
// each one that failed.
func (h *Handler) readyz(c *gin.Context) {
	if h.draining.Load() {
		h.writeError(c, &pushgate.Error{Code: pushgate.EUNAVAILABLE, Message: "node is shutting down", Fields: []string{"node: draining"}})
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	results := make([]error, len(h.opts.Ready))
	var wg sync.WaitGroup
	for i, chk := range h.opts.Ready {
		wg.Go(func() { results[i] = chk.Func(ctx) })
	}
	wg.Wait()
	checks := map[string]string{}
	var failed []string
	for i, chk := range h.opts.Ready {
		if results[i] != nil {
			failed = append(failed, chk.Name+": "+results[i].Error())
			continue
		}
		checks[chk.Name] = "ok"
	}
	if len(failed) > 0 {
		h.writeError(c, &pushgate.Error{Code: pushgate.EUNAVAILABLE, Message: "not ready", Fields: failed})
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready", "checks": checks})
}

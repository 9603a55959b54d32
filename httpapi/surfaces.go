package httpapi

import "github.com/gin-gonic/gin"

// surfaces are the router's groups: one per kind of caller, each with the
// authentication and the middleware that caller gets. Groups may share a
// path prefix (core, client and streams all hold /v1 routes): gin keeps
// one route tree and gives each route the chain of the group it was added
// to. The package doc draws the same table.
//
// Issue 13's /v1/tokens and /v1/notifications are on core (but POST
// /v1/notifications, which also takes a client token, is on client) and
// /v1/inbox... on client; /v1/ws and /v1/sse on streams (client token, or
// the app's connectAuthUrl, checked before the upgrade or the stream).
// Issue 15's /app/{key} is on streams and the Pusher HTTP API
// (/apps/{appId}/...) on pusher. Issue 16's /socket.io/ is on streams and
// notification-server's /api/{userId}/... on public, each route with the
// X-AUTH-TOKEN check (compat.go).
type surfaces struct {
	// ops: /healthz, /readyz, /metrics, /openapi.yaml. Every node, whatever
	// its roles; no authentication; timed.
	ops *gin.RouterGroup
	// public: the hello and status routes, CORE's client events (CORS,
	// a rate limit per client address) and the image CDN (/cdn). No
	// credentials; timed.
	public *gin.RouterGroup
	// core: the CORE API under /v1 (apps, buckets, contexts, sends,
	// messages, batches, images), behind an app API key; timed.
	core *gin.RouterGroup
	// client: /v1 routes that a browser or app calls with a client token,
	// not an API key (/v1/inbox..., issue 13), and their CORS preflights.
	// No authentication of the group's own: the inbox routes add the token
	// check (requireClientToken, which also takes delegated authentication), POST /v1/notifications one accepting
	// either credential (authenticateEither); timed.
	client *gin.RouterGroup
	// streams: long-lived connections (/v1/ws, /v1/sse, /app/{key},
	// /socket.io/). Outside the middleware that times requests or bounds
	// bodies (observe, boundBody, limitBody): a connection open for hours
	// is no request duration, and the access log would only see it end.
	// Each route authenticates before it upgrades, bounds what it reads
	// itself, and registers a hijacked connection with the server's
	// connection registry (internal/conns) so that shutdown closes it.
	streams *gin.RouterGroup
	// pusher: the Pusher HTTP API (/apps/{appId}/...), behind Pusher's
	// request signing (pusherAuth), which reads the body to check its MD5;
	// timed.
	pusher *gin.RouterGroup
}

// timedChain is the middleware of every request that is answered and
// done, in order: request id, the span (tracing on), metrics and access
// log, panic recovery, CORS of the client events, the NUL check, the body
// deadline and size limit. Unknown routes and methods get it too.
func (h *Handler) timedChain() []gin.HandlerFunc {
	chain := []gin.HandlerFunc{h.requestID}
	if h.opts.Tracing != nil {
		chain = append(chain, h.trace)
	}
	return append(chain, h.observe, h.recover, allowCORS, h.refuseNUL, h.boundBody, h.limitBody)
}

// streamChain is the middleware of long-lived connections: the timed
// chain without metrics, the access log and the body bounds.
func (h *Handler) streamChain() []gin.HandlerFunc {
	return []gin.HandlerFunc{h.requestID, h.recover, h.refuseNUL}
}

// surfaces makes the groups on e.
func (h *Handler) surfaces(e *gin.Engine) surfaces {
	timed := e.Group("", h.timedChain()...)
	return surfaces{
		ops:     timed.Group(""),
		public:  timed.Group(""),
		core:    timed.Group("/v1", h.authenticate),
		client:  timed.Group("/v1"),
		streams: e.Group("", h.streamChain()...),
		pusher:  timed.Group("", h.pusherAuth),
	}
}

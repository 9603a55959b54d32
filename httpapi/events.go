package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/webhooks"
)

// ClientEventRecorder records what clients report (webhooks.Recorder).
type ClientEventRecorder interface {
	RecordClient(ctx context.Context, e webhooks.ClientEvent) error
}

// EventOptions configure CORE's public client event endpoints
// (/v1/context/{contextId}/events/...).
type EventOptions struct {
	Recorder ClientEventRecorder
	// RatePerIP is how many requests a second one client address may make
	// (0: no limit), with bursts of up to Burst.
	RatePerIP float64
	Burst     int
}

// maxEventBody bounds a client event: three short strings.
const maxEventBody = 8 << 10

// clientEventPaths maps the endpoint's last segment to the event kind
// (CORE spells the endpoint "closed" and the webhook kind "close").
var clientEventPaths = []struct {
	path string
	kind webhooks.Kind
}{{"delivered", webhooks.Delivered}, {"clicked", webhooks.Clicked}, {"closed", webhooks.Close}}

// routeEvents adds the client event endpoints. They take no API key: a
// service worker calls them from the site's origin, so they answer CORS
// preflights, and a message id is their only credential.
func (h *Handler) routeEvents(e *gin.RouterGroup) {
	var limit gin.HandlerFunc = func(c *gin.Context) { c.Next() }
	if h.opts.Events.RatePerIP > 0 {
		limit = h.rateLimit(newIPLimiter(h.opts.Events.RatePerIP, h.opts.Events.Burst))
	}
	for _, p := range clientEventPaths {
		path := clientEventPrefix + p.path
		e.OPTIONS(path, preflight)
		e.POST(path, limit, h.clientEvent(p.kind))
	}
}

// allowCORS lets any origin call the client event endpoints and the
// routes a browser calls with a client token (the inbox, and sending to
// the token's user): they take no cookies, only credentials a page must
// hold already, so there is nothing for another origin to abuse that a
// plain HTTP client could not. It runs before the middleware that may
// refuse a request (NUL in the path, body limits and deadlines), so a
// browser sees those answers too.
func allowCORS(c *gin.Context) {
	if p := c.FullPath(); strings.HasPrefix(p, clientEventPrefix) || p == "/v1/notifications" || strings.HasPrefix(p, "/v1/inbox") {
		c.Header("Access-Control-Allow-Origin", "*")
		c.Header("Vary", "Origin")
	}
	c.Next()
}

const clientEventPrefix = "/v1/context/:contextId/events/"

func preflight(c *gin.Context) {
	c.Header("Access-Control-Allow-Methods", "POST, OPTIONS")
	c.Header("Access-Control-Allow-Headers", "Content-Type")
	c.Header("Access-Control-Max-Age", "86400")
	c.AbortWithStatus(http.StatusNoContent)
}

func (h *Handler) rateLimit(l *ipLimiter) gin.HandlerFunc {
	return h.limitBy(l, (*gin.Context).ClientIP,
		fmt.Sprintf("too many requests from this address; at most %s a second", strconv.FormatFloat(h.opts.Events.RatePerIP, 'f', -1, 64)))
}

// limitBy takes a token of the bucket key names for the request, or
// answers 429 with Retry-After and message.
func (h *Handler) limitBy(l *ipLimiter, key func(*gin.Context) string, message string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if ok, wait := l.allow(key(c), time.Now()); !ok {
			h.writeError(c, &pushgate.Error{Code: pushgate.ERATELIMITED, RetryAfter: wait, Message: message})
			return
		}
		c.Next()
	}
}

// clientEventBody is CORE's RegisterDeliveredDto, RegisterClickedDto and
// RegisterClosedDto. foreignId is accepted and not trusted: the webhook
// carries the foreign id stored with the message.
type clientEventBody struct {
	MessageID *string `json:"messageId"`
	ForeignID *string `json:"foreignId"`
	Action    *string `json:"action"`
}

func (h *Handler) clientEvent(kind webhooks.Kind) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.ContentLength > maxEventBody {
			h.writeError(c, tooLarge(maxEventBody))
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxEventBody)
		var in clientEventBody
		if err := decodeJSON(c, &in); err != nil {
			h.writeError(c, err)
			return
		}
		var problems []string
		if in.MessageID == nil || *in.MessageID == "" {
			problems = append(problems, "messageId: is required")
		}
		if in.ForeignID != nil && len(*in.ForeignID) > webhooks.MaxForeignID {
			problems = append(problems, fmt.Sprintf("foreignId: must be at most %d bytes", webhooks.MaxForeignID))
		}
		if len(problems) > 0 {
			h.writeError(c, pushgate.Invalid("the event is invalid", problems...))
			return
		}
		e := webhooks.ClientEvent{ContextID: c.Param("contextId"), MessageID: *in.MessageID, Kind: kind}
		if in.Action != nil {
			e.Action = *in.Action
		}
		if err := h.opts.Events.Recorder.RecordClient(c.Request.Context(), e); err != nil {
			h.writeError(c, err)
			return
		}
		c.Status(http.StatusCreated)
	}
}

package httpapi

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/apps"
)

var (
	errNoRoute  = pushgate.Errorf(pushgate.ENOTFOUND, "no such route")
	errNoMethod = &pushgate.Error{Code: codeMethodNotAllowed, Message: "method not allowed on this route"}
)

const ctxRequestID = "pushgate.request_id"

func requestID(c *gin.Context) string { return c.GetString(ctxRequestID) }

// requestID takes a sane X-Request-ID from the client or makes one, and
// echoes it in the answer so a caller can quote it.
func (h *Handler) requestID(c *gin.Context) {
	id := c.GetHeader("X-Request-ID")
	if !validRequestID(id) {
		id = pushgate.NewID()
	}
	c.Set(ctxRequestID, id)
	c.Header("X-Request-ID", id)
	c.Next()
}

func validRequestID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pushgate_http_requests_total",
			Help: "HTTP requests answered, by method, route and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pushgate_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by method and route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "route"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

// methodLabel is the method as a metric label: any method a client makes
// up is one value, OTHER, as each label value is a series kept until the
// node restarts. (Routes are a closed set too: registered paths, or
// "unmatched"; statuses are the few handlers write.)
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// observe records metrics and the access log line of every request.
func (h *Handler) observe(c *gin.Context) {
	start := time.Now()
	c.Next()
	elapsed := time.Since(start)
	route := c.FullPath()
	if route == "" {
		route = "unmatched" // never the raw path: it would make label values unbounded
	}
	status := c.Writer.Status()
	method := methodLabel(c.Request.Method)
	h.metrics.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	h.metrics.duration.WithLabelValues(method, route).Observe(elapsed.Seconds())
	if !h.opts.AccessLog {
		return
	}
	level := slog.LevelInfo
	switch route {
	case "/healthz", "/readyz", "/metrics":
		level = slog.LevelDebug
	}
	if !h.log.Enabled(c.Request.Context(), level) {
		return
	}
	h.log.LogAttrs(c.Request.Context(), level, "http request",
		slog.String("method", c.Request.Method),
		slog.String("path", c.Request.URL.Path),
		slog.String("route", route),
		slog.Int("status", status),
		slog.Float64("ms", float64(elapsed.Microseconds())/1000),
		slog.Int("bytes", c.Writer.Size()),
		slog.String("ip", c.ClientIP()),
		slog.String("request_id", requestID(c)),
	)
}

// recover turns a panic into a 500 in the error shape and logs the value.
func (h *Handler) recover(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			h.writeError(c, &pushgate.Error{Code: pushgate.EINTERNAL, Err: fmt.Errorf("panic: %v", v)})
		}
	}()
	c.Next()
}

// refuseNUL refuses a request whose path or query holds a NUL character,
// before any handler can pass it to storage (PostgreSQL cannot store one).
// JSON bodies are checked where they are read (readBody); headers never
// hold one, as net/http refuses such requests itself.
func (h *Handler) refuseNUL(c *gin.Context) {
	u := c.Request.URL
	if strings.IndexByte(u.Path, 0) >= 0 {
		h.writeError(c, pushgate.Invalid(msgNUL, "path: must not hold a NUL character (%00)"))
		return
	}
	// The escape is the only way a NUL reaches a query; most requests
	// stop at this search.
	if !strings.Contains(u.RawQuery, "%00") {
		c.Next()
		return
	}
	if problems := nulProblems(u.RawQuery); len(problems) > 0 {
		h.writeError(c, pushgate.Invalid(msgNUL, problems...))
		return
	}
	c.Next()
}

// nulProblems are the query's parameters that hold a NUL character, as
// sorted problems. A function of its own: its locals (a map iterator
// among them) need not stay on the stack under every request's handlers.
func nulProblems(rawQuery string) []string {
	q, _ := url.ParseQuery(rawQuery) // what it cannot parse, handlers never see
	var problems []string
	for k, vs := range q {
		if strings.IndexByte(k, 0) >= 0 {
			problems = append(problems, "query: a parameter name must not hold a NUL character (%00)")
			continue
		}
		for _, v := range vs {
			if strings.IndexByte(v, 0) >= 0 {
				problems = append(problems, shorten(k)+": must not hold a NUL character (%00)")
				break
			}
		}
	}
	slices.Sort(problems)
	return problems
}

// msgNUL is the message of every refusal of a NUL character.
const msgNUL = "the request holds a NUL character, which pushgate does not accept"

// limitBody refuses bodies declared larger than the limit at once and cuts
// off the ones that grow past it while being read.
func (h *Handler) limitBody(c *gin.Context) {
	limit := h.opts.MaxBodyBytes
	if l, ok := h.bodyLimits[c.FullPath()]; ok {
		limit = l
	}
	if c.Request.ContentLength > limit {
		h.writeError(c, tooLarge(limit))
		return
	}
	if c.Request.Body != nil {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
	}
	c.Next()
}

const (
	ctxApp = "pushgate.app"
	ctxKey = "pushgate.api_key"
)

// currentApp is the app the request's API key opened.
func currentApp(c *gin.Context) *apps.App { return c.MustGet(ctxApp).(*apps.App) }

// currentKey is the API key the request came with (no hash).
func currentKey(c *gin.Context) *apps.APIKey { return c.MustGet(ctxKey).(*apps.APIKey) }

// apiKeyOf finds the API key in the three places CORE clients put it:
// "authorization: token=<key>", "x-token: <key>" and "Authorization: Bearer <key>".
func apiKeyOf(r *http.Request) string {
	if k := r.Header.Get("X-Token"); k != "" {
		return strings.TrimSpace(k)
	}
	auth := strings.TrimSpace(r.Header.Get("Authorization"))
	if len(auth) > 6 && strings.EqualFold(auth[:6], "token=") {
		return strings.TrimSpace(auth[6:])
	}
	if len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ") {
		return strings.TrimSpace(auth[7:])
	}
	return ""
}

func (h *Handler) authenticate(c *gin.Context) {
	app, key, err := h.opts.Apps.Authenticate(c.Request.Context(), apiKeyOf(c.Request))
	if err != nil {
		h.writeError(c, err)
		return
	}
	c.Set(ctxApp, app)
	c.Set(ctxKey, key)
	c.Next()
}

var errNotAdmin = pushgate.Errorf(pushgate.EFORBIDDEN,
	"this API key cannot manage the app's API keys or settings: use an admin key, or `pushgate apps keys` on the server")

// requireAdmin lets only admin keys through (key management, PATCH /v1/app).
func (h *Handler) requireAdmin(c *gin.Context) {
	if currentKey(c).Role != apps.RoleAdmin {
		h.writeError(c, errNotAdmin)
		return
	}
	c.Next()
}

package httpapi

import (
	"errors"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/pushgate/pushgate"
)

// codeBodyTimeout is the code of a body that did not arrive in time.
const codeBodyTimeout = "request_timeout"

const ctxBodyDeadline = "pushgate.body_deadline"

// boundBody gives a request's body Options.BodyTimeout to arrive, so a
// client cannot hold a connection by sending its body a byte at a time.
//
// The bound is a read deadline on the connection, set here and cleared by
// net/http itself once the body has been read to its end (it then starts
// its background read for the next request, with no deadline). So it covers
// reading the body and nothing else:
//   - a request without a body gets no deadline: a stream (SSE, a WebSocket
//     upgrade, a long poll) may stay open as long as its handler likes;
//   - after the handler, net/http reads at most 256 KiB of an unread body
//     to reuse the connection, within the same deadline;
//   - a handler that means to read a body for longer (a streamed upload)
//     clears or moves the deadline itself, before reading:
//     http.NewResponseController(c.Writer).SetReadDeadline(time.Time{}).
//
// Routes that take more than MaxBodyBytes get proportionally more time
// once their caller is authenticated (see allowLargeBody).
func (h *Handler) boundBody(c *gin.Context) {
	body := c.Request.Body
	if body == nil || body == http.NoBody {
		c.Next()
		return
	}
	d := &deadlineBody{ReadCloser: body, rc: http.NewResponseController(c.Writer), start: time.Now()}
	// Connections that cannot take deadlines (test recorders) go unbounded.
	if d.set(h.opts.BodyTimeout) == nil {
		c.Request.Body = d
		c.Set(ctxBodyDeadline, d)
	}
	c.Next()
}

// allowLargeBody gives the route's body the time BodyTimeout allows per
// MaxBodyBytes: an upload of 10 MiB gets ten times the time of a 1 MiB
// body, so a client that sends at the rate the bound implies is never
// cut off. It belongs after authentication, so that only a known caller
// holds a connection that long.
func (h *Handler) allowLargeBody(c *gin.Context) {
	if v, ok := c.Get(ctxBodyDeadline); ok {
		limit := h.opts.MaxBodyBytes
		if l, ok := h.bodyLimits[c.FullPath()]; ok {
			limit = l
		}
		if limit > h.opts.MaxBodyBytes {
			scaled := time.Duration(float64(h.opts.BodyTimeout) * float64(limit) / float64(h.opts.MaxBodyBytes))
			_ = v.(*deadlineBody).set(scaled)
		}
	}
	c.Next()
}

// deadlineBody is a request body under a read deadline; a read that
// passes it fails with a 408 in the error shape, whoever reads (JSON,
// multipart or image decoding).
type deadlineBody struct {
	io.ReadCloser
	rc      *http.ResponseController
	start   time.Time
	allowed time.Duration
}

func (d *deadlineBody) set(allowed time.Duration) error {
	d.allowed = allowed
	return d.rc.SetReadDeadline(d.start.Add(allowed))
}

func (d *deadlineBody) Read(p []byte) (int, error) {
	n, err := d.ReadCloser.Read(p)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		err = pushgate.Errorf(codeBodyTimeout, "the request body did not arrive within %s", d.allowed)
	}
	return n, err
}

package apns

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestAnswerHeadersOverContinuations: an answer whose headers span a
// HEADERS frame and CONTINUATIONs is read whole, and the next answers on
// the connection (whose fields refer to the table it filled) still are.
func TestAnswerHeadersOverContinuations(t *testing.T) {
	pad := strings.Repeat("p", 40<<10) // more than two 16 KB frames
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("apns-id", "id-"+r.Header.Get("apns-expiration"))
		w.Header().Set("x-pad", pad)
		w.Header().Set("retry-after", "7")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"reason":"TooManyRequests"}`)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	p := h2Provider(t, srv, 1)
	for range 3 {
		err := p.Send(context.Background(), h2Message(t, "b"))
		var e *Error
		if !errors.As(err, &e) || e.Status != http.StatusTooManyRequests || e.Reason != "TooManyRequests" || !strings.HasPrefix(e.ApnsID, "id-") {
			t.Fatalf("Send: %v (%+v), want 429 TooManyRequests with the answer's apns-id", err, e)
		}
	}
	p.pool.mu.Lock()
	n := len(p.pool.conns)
	p.pool.mu.Unlock()
	if n != 1 {
		t.Errorf("%d connections, want one for every answer", n)
	}
}

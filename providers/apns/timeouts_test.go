package apns

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pushgate/pushgate/buckets"
	"github.com/pushgate/pushgate/providers/providertest"
)

// TestTimeoutsShareAChannelWithinAnEighth: requests that begin within an
// eighth of the timeout share one channel; a later one gets its own, which
// closes no sooner than the timeout after it began.
func TestTimeoutsShareAChannelWithinAnEighth(t *testing.T) {
	const d = 400 * time.Millisecond
	ts := newTimeouts(d)
	now := time.Now()
	first := ts.after(now)
	if ts.after(now.Add(d/16)) != first {
		t.Error("a request begun a sixteenth of the timeout later got a channel of its own")
	}
	later := ts.after(now.Add(d / 4))
	if later == first {
		t.Fatal("a request begun a quarter of the timeout later shares a channel that may close before its timeout")
	}
	if ts.after(now.Add(d/4)) != later {
		t.Error("the newest channel is not shared")
	}
	select {
	case <-first:
		t.Fatal("closed at once")
	default:
	}
	select {
	case <-first:
	case <-time.After(10 * time.Second):
		t.Fatal("never closed")
	}
}

// TestSendTimesOut: a request APNS never answers ends with
// context.DeadlineExceeded after Options.Timeout, and the connection still
// serves the next one.
func TestSendTimesOut(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	k := providertest.APNSTestKey(t)
	p, err := New(&buckets.Credential{ID: "c", Type: buckets.APNSToken, APNSToken: &buckets.APNSTokenCredential{
		Key: k.P8, KeyID: k.KeyID, TeamID: k.TeamID, Topic: "com.example.app",
	}}, Options{Host: srv.URL, RootCAs: certPool(srv), Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	for range 2 {
		done := make(chan error, 1)
		go func() { done <- p.Send(context.Background(), h2Message(t, "b")) }()
		select {
		case err := <-done:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Send: %v, want context.DeadlineExceeded", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Send still waiting 10 s after its 200 ms timeout")
		}
	}
	p.pool.mu.Lock()
	n := len(p.pool.conns)
	p.pool.mu.Unlock()
	if n != 1 {
		t.Errorf("%d connections after two timeouts, want the first kept", n)
	}
}

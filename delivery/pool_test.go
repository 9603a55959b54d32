package delivery

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushgate/pushgate/buckets"
	"github.com/pushgate/pushgate/providers"
)

type closeCounter struct{ closed atomic.Int32 }

func (p *closeCounter) Send(context.Context, *providers.Message) error { return nil }
func (p *closeCounter) Close() error                                   { p.closed.Add(1); return nil }

type oneCredential struct{}

func (oneCredential) Credential(_ context.Context, _, _, id string) (*buckets.Credential, error) {
	return &buckets.Credential{ID: id, Type: buckets.WebSocket}, nil
}

// The pool reads the time from the clock it is given, so idleness follows
// the clock the rest of delivery uses.
func TestPoolClosesIdleProvidersByItsClock(t *testing.T) {
	p := &closeCounter{}
	registry := providers.NewRegistry()
	registry.Register(buckets.WebSocket, func(*buckets.Credential) (providers.Provider, error) { return p, nil }, nil)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	pool := newProviderPool(oneCredential{}, registry, func() time.Time { return now })
	if _, _, err := pool.get(context.Background(), "a", "b", "c"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute)
	pool.closeIdle(2 * time.Minute)
	if n := p.closed.Load(); n != 0 {
		t.Fatalf("closed %d times after a minute of an idle limit of two", n)
	}
	now = now.Add(2 * time.Minute)
	pool.closeIdle(2 * time.Minute)
	if n := p.closed.Load(); n != 1 {
		t.Fatalf("closed %d times after three minutes idle, want 1", n)
	}
}

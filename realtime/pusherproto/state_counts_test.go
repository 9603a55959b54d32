package pusherproto_test

import (
	"context"
	"sync"
	"testing"

	"github.com/pushgate/pushgate/internal/redisconn"
	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/realtime/pusherproto"
)

// Two nodes count one channel: only a node's first subscription and its
// last unsubscription wait for Redis and return the count every node
// sees, so the channel is occupied and vacated once; a count read on a
// node includes everything that node counted before the read, and the
// other node's reads see it once its changes are in.
func TestLocalFirstCounts(t *testing.T) {
	opt, err := redisconn.Options(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	rc := redisconn.Client(opt)
	t.Cleanup(func() { _ = rc.Close() })
	ns, ctx := testenv.Namespace(t), context.Background()
	a, b := pusherproto.NewRedisState(rc, ns, "a"), pusherproto.NewRedisState(rc, ns, "b")
	if n, err := a.Subscribed(ctx, "app", "news"); err != nil || n != 1 {
		t.Fatalf("first subscription: %d, %v; want 1 (occupied)", n, err)
	}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if n, err := a.Subscribed(ctx, "app", "news"); err != nil || n < 2 {
				t.Errorf("another subscription: %d, %v; want 2 or more", n, err)
			}
		})
	}
	wg.Wait()
	if n, err := a.Subscriptions(ctx, "app", "news"); err != nil || n != 51 {
		t.Fatalf("read on the node that counted: %d, %v; want 51", n, err)
	}
	if n, err := b.Subscribed(ctx, "app", "news"); err != nil || n != 52 {
		t.Fatalf("the other node's first: %d, %v; want 52", n, err)
	}
	for range 50 {
		wg.Go(func() {
			if n, err := a.Unsubscribed(ctx, "app", "news"); err != nil || n < 1 {
				t.Errorf("an unsubscription: %d, %v; want 1 or more", n, err)
			}
		})
	}
	wg.Wait()
	if all, err := b.Channels(ctx, "app", ""); err != nil || len(all) != 1 {
		t.Fatalf("channels: %v, %v", all, err)
	}
	if n, err := a.Unsubscribed(ctx, "app", "news"); err != nil || n != 1 {
		t.Fatalf("a's last: %d, %v; want 1 (b still has one)", n, err)
	}
	if n, err := b.Subscriptions(ctx, "app", "news"); err != nil || n != 1 {
		t.Fatalf("count once a left: %d, %v; want 1", n, err)
	}
	if n, err := b.Unsubscribed(ctx, "app", "news"); err != nil || n != 0 {
		t.Fatalf("the last: %d, %v; want 0 (vacated)", n, err)
	}
	if all, err := a.Channels(ctx, "app", ""); err != nil || len(all) != 0 {
		t.Fatalf("channels once vacated: %v, %v", all, err)
	}
	for _, s := range []*pusherproto.RedisState{a, b} {
		if gone, err := s.Forget(ctx); err != nil || len(gone) != 0 {
			t.Fatalf("forget: %v, %v; want nothing left", gone, err)
		}
	}
}

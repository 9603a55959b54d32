package webhooks_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/storage/sqlstore"
	"github.com/pushgate/pushgate/webhooks"
)

// pusherConsumer is an app's channel webhook endpoint: it checks the
// signature as Pusher documents it (hex HMAC-SHA256 of the body with the
// app secret), fails the first POST, and keeps the bodies it accepted.
type pusherConsumer struct {
	t           *testing.T
	key, secret string
	mu          sync.Mutex
	posts       int
	bodies      []map[string]any
	batchIDs    []string
}

func (c *pusherConsumer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	mac := hmac.New(sha256.New, []byte(c.secret))
	mac.Write(body)
	if r.Header.Get("X-Pusher-Key") != c.key || !hmac.Equal([]byte(r.Header.Get("X-Pusher-Signature")), []byte(hex.EncodeToString(mac.Sum(nil)))) {
		c.t.Errorf("bad key or signature: %v", r.Header)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.posts++
	if c.posts == 1 {
		w.WriteHeader(http.StatusServiceUnavailable) // retried
		return
	}
	var b map[string]any
	if err := json.Unmarshal(body, &b); err != nil {
		c.t.Errorf("body %s: %v", body, err)
	}
	c.bodies = append(c.bodies, b)
	c.batchIDs = append(c.batchIDs, r.Header.Get(webhooks.HeaderID))
}

// TestChannelWebhooksAreBatchedSignedAndRetried: events recorded for an
// app reach its channel webhook in Pusher's body, in the order recorded,
// signed with its key and secret, and a batch that failed is sent again.
func TestChannelWebhooksAreBatchedSignedAndRetried(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		appID, _ := createBucket(t, db)
		cons := &pusherConsumer{t: t, key: "app-key", secret: "app-secret"}
		srv := httptest.NewServer(cons)
		t.Cleanup(srv.Close)
		targets := webhooks.TargetsFunc(func(_ context.Context, a, b string) (*webhooks.Target, error) {
			if a != appID || b != appID {
				return nil, pushgate.NotFound("channel webhook")
			}
			return &webhooks.Target{Format: webhooks.FormatPusher, URL: srv.URL, Key: cons.key, Secret: cons.secret}, nil
		})
		store := db.ChannelWebhooks()
		disp, err := webhooks.NewDispatcher(store, targets, srv.Client(), webhooks.DispatcherOptions{
			Interval: 20 * time.Millisecond, MinBackoff: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		fl := webhooks.NewFlusher(store, targets, webhooks.FlusherOptions{FlushAfter: 50 * time.Millisecond, Interval: 20 * time.Millisecond, OnBatch: disp.Handoff})
		rec := webhooks.NewChannelRecorder(store, webhooks.ChannelRecorderOptions{})
		ctx := context.Background()
		rec.Start(ctx)
		fl.Start(ctx)
		disp.Start(ctx)
		defer func() { _ = rec.Shutdown(ctx); _ = fl.Shutdown(ctx); _ = disp.Shutdown(ctx) }()

		before := time.Now().UnixMilli()
		rec.Record(appID, webhooks.ChannelEvent{Name: webhooks.ChannelOccupied, Channel: "presence-x"})
		rec.Record(appID, webhooks.ChannelEvent{Name: webhooks.MemberAdded, Channel: "presence-x", UserID: "alice"})
		rec.Record(appID, webhooks.ChannelEvent{Name: webhooks.ClientEventName, Channel: "presence-x", Event: "client-typing",
			Data: `{"on":true}`, SocketID: "1.2", UserID: "alice"})
		rec.Record(pushgate.NewID(), webhooks.ChannelEvent{Name: webhooks.CacheMiss, Channel: "cache-y"}) // an app without a webhook
		var bodies []map[string]any
		for start := time.Now(); time.Since(start) < 10*time.Second && len(bodies) == 0; time.Sleep(20 * time.Millisecond) {
			cons.mu.Lock()
			bodies = append(bodies, cons.bodies...)
			cons.mu.Unlock()
		}
		if len(bodies) != 1 {
			t.Fatalf("bodies %v after %d POSTs", bodies, cons.posts)
		}
		want := []any{
			map[string]any{"name": "channel_occupied", "channel": "presence-x"},
			map[string]any{"name": "member_added", "channel": "presence-x", "user_id": "alice"},
			map[string]any{"name": "client_event", "channel": "presence-x", "event": "client-typing", "data": `{"on":true}`,
				"socket_id": "1.2", "user_id": "alice"},
		}
		if !reflect.DeepEqual(bodies[0]["events"], want) {
			t.Errorf("events %v\nwant %v", bodies[0]["events"], want)
		}
		if ms, ok := bodies[0]["time_ms"].(float64); !ok || int64(ms) < before || len(bodies[0]) != 2 {
			t.Errorf("body %v: want time_ms (after %d) and events only", bodies[0], before)
		}
		if cons.posts != 2 {
			t.Errorf("%d POSTs, want a failed one and its retry", cons.posts)
		}
		batches, err := disp.Batches(ctx, appID, appID, webhooks.ListOptions{})
		if err != nil || len(batches) != 1 || batches[0].Status != webhooks.StatusDelivered || batches[0].Attempts != 2 || batches[0].ID != cons.batchIDs[0] {
			t.Errorf("batches %+v, %v", batches, err)
		}
	})
}

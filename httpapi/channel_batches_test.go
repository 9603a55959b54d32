package httpapi_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/storage/sqlstore"
	"github.com/pushgate/pushgate/webhooks"
)

// newChannelDispatcher serves the apps' channel webhook batches; it is
// never started, so batches stay as a test leaves them.
func newChannelDispatcher(t testing.TB, db *sqlstore.DB) *webhooks.Dispatcher {
	d, err := webhooks.NewDispatcher(db.ChannelWebhooks(), webhooks.TargetsFunc(func(context.Context, string, string) (*webhooks.Target, error) {
		return nil, pushgate.NotFound("channel webhook")
	}), http.DefaultClient, webhooks.DispatcherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// GET /v1/app/webhooks and POST /v1/app/webhooks/{batchId}/redeliver list
// and redeliver the app's channel webhook batches as a bucket's are, and
// never another app's (nor a bucket's).
func TestChannelWebhookBatchesAPI(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		c, other := newCore(t, db)
		_, app := c.get("/v1/app")
		appID := app["appId"].(string)
		store := db.ChannelWebhooks()
		now := time.Now().UTC()
		events := []webhooks.Event{
			{AppID: appID, BucketID: appID, At: now, Channel: &webhooks.ChannelEvent{Name: webhooks.ChannelOccupied, Channel: "news"}},
			{AppID: appID, BucketID: appID, At: now, Channel: &webhooks.ChannelEvent{Name: webhooks.ChannelVacated, Channel: "news"}},
		}
		if err := store.AddChannelEvents(ctx, events); err != nil {
			t.Fatal(err)
		}
		if code, got := c.get("/v1/app/webhooks"); code != 200 || len(got["batches"].([]any)) != 0 {
			t.Fatalf("batches before any flush: %d %v", code, got)
		}
		first, second := pushgate.NewID(), pushgate.NewID()
		for _, id := range []string{first, second} {
			if n, err := store.CreateBatch(ctx, webhooks.NewBatch{ID: id, AppID: appID, BucketID: appID, Max: 1, CreatedAt: now}); err != nil || n != 1 {
				t.Fatalf("CreateBatch = %d, %v", n, err)
			}
		}
		claimed, err := store.ClaimBatches(ctx, now, now.Add(time.Minute), 1)
		if err != nil || len(claimed) != 1 || claimed[0].ID != first {
			t.Fatalf("ClaimBatches = %v, %v", claimed, err)
		}
		if err := store.FinishAttempt(ctx, webhooks.Outcome{BatchID: first, Attempt: claimed[0].Attempts, Status: webhooks.StatusDead,
			StatusCode: 500, Error: "HTTP 500: down", At: now}); err != nil {
			t.Fatal(err)
		}

		code, got := c.get("/v1/app/webhooks")
		list := got["batches"].([]any)
		if code != 200 || len(list) != 2 || list[0].(map[string]any)["batchId"] != second || list[1].(map[string]any)["batchId"] != first {
			t.Fatalf("batches: %d %v, want the pending one, then the dead one", code, got)
		}
		dead := list[1].(map[string]any)
		if dead["status"] != "dead" || dead["attempts"] != 1.0 || dead["lastStatusCode"] != 500.0 || dead["events"] != 1.0 {
			t.Fatalf("dead batch = %v", dead)
		}
		if _, got := c.get("/v1/app/webhooks?status=dead&limit=5"); len(got["batches"].([]any)) != 1 {
			t.Fatalf("status=dead: %v", got)
		}
		if _, got := c.get("/v1/app/webhooks?before=" + second); len(got["batches"].([]any)) != 1 {
			t.Fatalf("before=%s: %v", second, got)
		}
		c.sc.badRequests = true
		for _, q := range []string{"status=lost", "limit=0", "limit=501", "limit=x", "before=nope"} {
			if code, _ := c.get("/v1/app/webhooks?" + q); code != 400 {
				t.Errorf("?%s: %d, want 400", q, code)
			}
		}
		c.sc.badRequests = false
		if code, got := other.get("/v1/app/webhooks"); code != 200 || len(got["batches"].([]any)) != 0 {
			t.Fatalf("another app lists: %d %v, want none of them", code, got)
		}

		if code, b := c.post("/v1/app/webhooks/"+second+"/redeliver", ""); code != 409 {
			t.Fatalf("redeliver of a pending batch: %d %v, want 409", code, b)
		}
		if code, _ := other.post("/v1/app/webhooks/"+first+"/redeliver", ""); code != 404 {
			t.Fatalf("another app redelivers: %d", code)
		}
		code, b := c.post("/v1/app/webhooks/"+first+"/redeliver", "")
		if code != 200 || b["status"] != "pending" || b["batchId"] != first || b["nextAttemptAt"] == nil {
			t.Fatalf("redeliver of a dead batch: %d %v", code, b)
		}
		for _, id := range []string{pushgate.NewID(), "nope"} {
			if code, _ := c.post("/v1/app/webhooks/"+id+"/redeliver", ""); code != 404 {
				t.Fatalf("redeliver of an unknown batch: %d", code)
			}
		}
	})
}

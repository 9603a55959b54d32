package apps_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/apps"
	"github.com/pushgate/pushgate/internal/testenv"
)

// appCountingStore counts the reads of apps by id and by public key.
type appCountingStore struct {
	apps.Store
	reads atomic.Int64
}

func (c *appCountingStore) GetApp(ctx context.Context, id string) (*apps.App, error) {
	c.reads.Add(1)
	return c.Store.GetApp(ctx, id)
}

func (c *appCountingStore) GetAppByKey(ctx context.Context, key string) (*apps.App, error) {
	c.reads.Add(1)
	return c.Store.GetAppByKey(ctx, key)
}

// GetByKey and Lookup remember an app for a second once the epoch is
// read; a change of settings or secret made here is seen at once, one
// made elsewhere within the second, and an app deleted elsewhere stops
// opening once the epoch moves. Get always reads.
func TestAppCache(t *testing.T) {
	db := testenv.OpenDB(t, testenv.SQLiteURL(t))
	ctx := context.Background()
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	store := &appCountingStore{Store: db.Apps()}
	keys, _ := pushgate.ParseMasterKeys(pushgate.NewMasterKey())
	kr, _ := pushgate.NewKeyring(keys...)
	svc := apps.NewService(store, kr, apps.Options{AuthCacheTTL: time.Hour, EpochPoll: 20 * time.Millisecond, Now: clock})
	creds, _ := svc.Create(ctx, "a")
	reads := func(f func() (*apps.App, error)) (*apps.App, int64) {
		t.Helper()
		before := store.reads.Load()
		a, err := f()
		if err != nil {
			t.Fatal(err)
		}
		return a, store.reads.Load() - before
	}
	byKey := func() (*apps.App, error) { return svc.GetByKey(ctx, creds.Key) }
	byID := func() (*apps.App, error) { return svc.Lookup(ctx, creds.AppID) }
	if _, n := reads(byKey); n != 1 {
		t.Fatalf("before Start: %d reads, want 1", n)
	}
	svc.Start(context.Background())
	defer svc.Shutdown(ctx)
	waitFor(t, func() bool { reads(byKey); _, n := reads(byKey); return n == 0 })
	reads(byID)
	if a, n := reads(byID); n != 0 || a.Secret != creds.Secret {
		t.Fatalf("Lookup again: %d reads, secret %q", n, a.Secret)
	}
	if _, n := reads(func() (*apps.App, error) { return svc.Get(ctx, creds.AppID) }); n != 1 {
		t.Fatalf("Get: %d reads, want 1", n)
	}

	on := true
	if _, err := svc.UpdateSettings(ctx, creds.AppID, apps.SettingsPatch{ClientEvents: &on}); err != nil {
		t.Fatal(err)
	}
	if a, _ := reads(byKey); !a.ClientEvents {
		t.Fatal("a change of settings on this node is not seen at once")
	}
	secret, err := svc.RotateSecret(ctx, creds.AppID)
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := reads(byID); a.Secret != secret {
		t.Fatal("a new secret is not seen at once")
	}

	reads(byKey)
	// As another node would: straight through the store.
	if err := db.Apps().SetAppSettings(ctx, creds.AppID, apps.Settings{}); err != nil {
		t.Fatal(err)
	}
	if a, _ := reads(byKey); !a.ClientEvents {
		t.Fatal("remembered for less than a second")
	}
	advance(time.Second)
	if a, n := reads(byKey); a.ClientEvents || n != 1 {
		t.Fatalf("after a second: %d reads, clientEvents %v", n, a.ClientEvents)
	}

	reads(byKey)
	if err := db.Apps().DeleteApp(ctx, creds.AppID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		_, err := svc.GetByKey(ctx, creds.Key)
		return pushgate.ErrorCode(err) == pushgate.ENOTFOUND
	})
}

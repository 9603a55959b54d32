package apps_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/apps"
	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/storage/sqlstore"
)

func newService(t *testing.T, db *sqlstore.DB, opts apps.Options) *apps.Service {
	t.Helper()
	keys, _ := pushgate.ParseMasterKeys(pushgate.NewMasterKey())
	kr, err := pushgate.NewKeyring(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return apps.NewService(db.Apps(), kr, opts)
}

func TestServiceLifecycle(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		svc := newService(t, db, apps.Options{})
		creds, err := svc.Create(ctx, "shop")
		if err != nil {
			t.Fatal(err)
		}
		if !pushgate.ValidID(creds.AppID) || len(creds.Key) != 20 || len(creds.Secret) != 40 || !strings.HasPrefix(creds.APIKey, apps.APIKeyPrefix) {
			t.Fatalf("credentials %+v", creds)
		}

		// The secret is sealed at rest and opens again.
		raw, _ := db.Apps().GetApp(ctx, creds.AppID)
		if strings.Contains(raw.SealedSecret, creds.Secret) {
			t.Fatal("secret stored in plaintext")
		}
		got, err := svc.Get(ctx, creds.AppID)
		if err != nil || got.Secret != creds.Secret {
			t.Fatalf("Get: secret %q, %v", got.Secret, err)
		}
		if byKey, err := svc.GetByKey(ctx, creds.Key); err != nil || byKey.ID != creds.AppID {
			t.Fatalf("GetByKey: %v", err)
		}

		app, key, err := svc.Authenticate(ctx, creds.APIKey)
		if err != nil || app.ID != creds.AppID || app.Secret != "" || key.Role != apps.RoleAdmin || key.Hash != "" {
			t.Fatalf("Authenticate = %+v, %+v, %v", app, key, err)
		}
		for _, bad := range []string{"", "pgk_", creds.APIKey + "x", strings.TrimPrefix(creds.APIKey, apps.APIKeyPrefix)} {
			if _, _, err := svc.Authenticate(ctx, bad); pushgate.ErrorCode(err) != pushgate.EUNAUTHORIZED {
				t.Errorf("Authenticate(%q) err = %v", bad, err)
			}
		}

		secret, err := svc.RotateSecret(ctx, creds.AppID)
		if err != nil || secret == creds.Secret {
			t.Fatalf("RotateSecret = %q, %v", secret, err)
		}
		if got, _ := svc.Get(ctx, creds.AppID); got.Secret != secret {
			t.Fatal("rotated secret not stored")
		}

		if _, err := svc.Create(ctx, "  "); pushgate.ErrorCode(err) != pushgate.EINVALID {
			t.Fatalf("blank name: %v", err)
		}
		if _, err := svc.Create(ctx, strings.Repeat("x", 101)); pushgate.ErrorCode(err) != pushgate.EINVALID {
			t.Fatalf("long name: %v", err)
		}
	})
}

// Keys carry a role: the app's first key is an admin key, new keys are
// standard unless asked for, and an app never loses its last admin key
// unless the operator insists.
func TestKeyRoles(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		svc := newService(t, db, apps.Options{})
		creds, _ := svc.Create(ctx, "a")
		keys, _ := svc.ListKeys(ctx, creds.AppID)
		if len(keys) != 1 || keys[0].Role != apps.RoleAdmin {
			t.Fatalf("first key %+v, want one admin key", keys[0])
		}
		first := keys[0]
		std, plain, err := svc.CreateKey(ctx, creds.AppID, "ci", "")
		if err != nil || std.Role != apps.RoleStandard {
			t.Fatalf("CreateKey default role = %+v, %v", std, err)
		}
		if _, k, err := svc.Authenticate(ctx, plain); err != nil || k.Role != apps.RoleStandard || k.ID != std.ID {
			t.Fatalf("Authenticate(standard) = %+v, %v", k, err)
		}
		if _, _, err := svc.CreateKey(ctx, creds.AppID, "x", "root"); pushgate.ErrorCode(err) != pushgate.EINVALID || !strings.Contains(err.Error(), "role") {
			t.Fatalf("unknown role: %v", err)
		}

		if err := svc.RevokeKey(ctx, creds.AppID, first.ID); !errors.Is(err, apps.ErrLastAdmin) || pushgate.ErrorCode(err) != pushgate.ECONFLICT {
			t.Fatalf("revoking the last admin key: %v, want apps.ErrLastAdmin", err)
		}
		second, _, err := svc.CreateKey(ctx, creds.AppID, "ops", apps.RoleAdmin)
		if err != nil || second.Role != apps.RoleAdmin {
			t.Fatalf("CreateKey(admin) = %+v, %v", second, err)
		}
		if err := svc.RevokeKey(ctx, creds.AppID, first.ID); err != nil {
			t.Fatalf("revoking one of two admin keys: %v", err)
		}
		if _, _, err := svc.Authenticate(ctx, creds.APIKey); pushgate.ErrorCode(err) != pushgate.EUNAUTHORIZED {
			t.Fatalf("revoked admin key: %v", err)
		}
		if err := svc.RevokeKey(ctx, creds.AppID, second.ID); !errors.Is(err, apps.ErrLastAdmin) {
			t.Fatalf("revoking the new last admin key: %v, want apps.ErrLastAdmin", err)
		}
		if err := svc.ForceRevokeKey(ctx, creds.AppID, second.ID); err != nil {
			t.Fatalf("forced revoke: %v", err)
		}
		if err := svc.RevokeKey(ctx, creds.AppID, std.ID); err != nil {
			t.Fatalf("standard keys go without an admin left: %v", err)
		}
	})
}

// A revoked key stops working at once on the node that revoked it, even
// though accepted keys are cached.
func TestRevokeBeatsCache(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		svc := newService(t, db, apps.Options{AuthCacheTTL: time.Hour, EpochPoll: time.Hour})
		svc.Start(context.Background())
		t.Cleanup(func() { svc.Shutdown(ctx) })
		creds, _ := svc.Create(ctx, "a")
		k, plain, err := svc.CreateKey(ctx, creds.AppID, "ci", "")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := svc.Authenticate(ctx, plain); err != nil {
			t.Fatal(err)
		}
		other, _ := svc.Create(ctx, "b")
		if err := svc.RevokeKey(ctx, other.AppID, k.ID); pushgate.ErrorCode(err) != pushgate.ENOTFOUND {
			t.Fatalf("revoking another app's key: %v", err)
		}
		if _, _, err := svc.Authenticate(ctx, plain); err != nil {
			t.Fatal("key stopped working after a refused revoke")
		}
		if err := svc.RevokeKey(ctx, creds.AppID, k.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := svc.Authenticate(ctx, plain); pushgate.ErrorCode(err) != pushgate.EUNAUTHORIZED {
			t.Fatalf("revoked key still works: %v", err)
		}
		if _, _, err := svc.Authenticate(ctx, creds.APIKey); err != nil {
			t.Fatal(err)
		}
		if err := svc.Delete(ctx, creds.AppID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := svc.Authenticate(ctx, creds.APIKey); pushgate.ErrorCode(err) != pushgate.EUNAUTHORIZED {
			t.Fatalf("key of a deleted app still works: %v", err)
		}
	})
}

// countingStore counts key look-ups and can fail epoch reads.
type countingStore struct {
	apps.Store
	lookups   atomic.Int64
	epochDown atomic.Bool
}

func (c *countingStore) AppByAPIKeyHash(ctx context.Context, hash string) (*apps.App, *apps.APIKey, error) {
	c.lookups.Add(1)
	return c.Store.AppByAPIKeyHash(ctx, hash)
}

func (c *countingStore) AuthEpoch(ctx context.Context) (int64, error) {
	if c.epochDown.Load() {
		return 0, errors.New("database unreachable")
	}
	return c.Store.AuthEpoch(ctx)
}

// A key revoked elsewhere (another node, the CLI) stops working here as
// soon as the epoch is read; a key is remembered only while the epoch is
// read, and never before Start.
func TestCacheFollowsTheEpoch(t *testing.T) {
	db := testenv.OpenDB(t, testenv.SQLiteURL(t))
	ctx := context.Background()
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	store := &countingStore{Store: db.Apps()}
	keys, _ := pushgate.ParseMasterKeys(pushgate.NewMasterKey())
	kr, _ := pushgate.NewKeyring(keys...)
	const poll = 20 * time.Millisecond
	svc := apps.NewService(store, kr, apps.Options{AuthCacheTTL: time.Hour, EpochPoll: poll, Now: clock})
	creds, _ := svc.Create(ctx, "a")
	authN := func(n int) int64 {
		t.Helper()
		before := store.lookups.Load()
		for range n {
			if _, _, err := svc.Authenticate(ctx, creds.APIKey); err != nil {
				t.Fatal(err)
			}
		}
		return store.lookups.Load() - before
	}
	if got := authN(3); got != 3 {
		t.Fatalf("before Start: %d look-ups for 3 calls, want 3 (nothing remembered)", got)
	}
	svc.Start(context.Background())
	defer svc.Shutdown(ctx)
	waitFor(t, func() bool { return authN(3) <= 1 })

	// As another node or the CLI would: straight through the store.
	_, plain, _ := svc.CreateKey(ctx, creds.AppID, "ci", "")
	k, _ := db.Apps().ListAPIKeys(ctx, creds.AppID)
	if _, _, err := svc.Authenticate(ctx, plain); err != nil {
		t.Fatal(err)
	}
	if err := db.Apps().DeleteAPIKey(ctx, creds.AppID, k[1].ID, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		_, _, err := svc.Authenticate(ctx, plain)
		return pushgate.ErrorCode(err) == pushgate.EUNAUTHORIZED
	})

	// While the epoch cannot be read, nothing remembered is trusted.
	authN(1)
	store.epochDown.Store(true)
	time.Sleep(3 * poll) // let a failed read happen; the clock decides
	advance(2*poll + time.Millisecond)
	if got := authN(3); got != 3 {
		t.Fatalf("epoch unread for 2 polls: %d look-ups for 3 calls, want 3", got)
	}
	store.epochDown.Store(false)
	waitFor(t, func() bool { return authN(3) <= 1 })
}

// conflictStore refuses every key deletion with a conflict of its own.
type conflictStore struct{ apps.Store }

var errOtherConflict = pushgate.Errorf(pushgate.ECONFLICT, "some other conflict")

func (conflictStore) DeleteAPIKey(context.Context, string, string, bool) error {
	return errOtherConflict
}

// The store says when a key is the app's last admin key; any other
// conflict comes through as it is, not dressed up as that one.
func TestRevokeKeepsTheStoresConflict(t *testing.T) {
	db := testenv.OpenDB(t, testenv.SQLiteURL(t))
	keys, _ := pushgate.ParseMasterKeys(pushgate.NewMasterKey())
	kr, _ := pushgate.NewKeyring(keys...)
	svc := apps.NewService(conflictStore{db.Apps()}, kr, apps.Options{})
	if err := svc.RevokeKey(context.Background(), pushgate.NewID(), pushgate.NewID()); !errors.Is(err, errOtherConflict) {
		t.Fatalf("RevokeKey = %v, want the store's own conflict", err)
	}
}

// Shutdown may be called again (a server stopping twice, a deferred call
// after an explicit one), and before Start.
func TestShutdownTwice(t *testing.T) {
	db := testenv.OpenDB(t, testenv.SQLiteURL(t))
	ctx := context.Background()
	svc := newService(t, db, apps.Options{EpochPoll: time.Hour})
	if err := svc.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown before Start: %v", err)
	}
	svc.Start(context.Background())
	for i := range 2 {
		if err := svc.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown #%d: %v", i+1, err)
		}
	}
}

// hangingStore's epoch reads hang until their context ends, as on a
// database that stopped answering.
type hangingStore struct {
	apps.Store
	hang atomic.Bool
}

func (h *hangingStore) AuthEpoch(ctx context.Context) (int64, error) {
	if h.hang.Load() {
		<-ctx.Done()
		return 0, ctx.Err()
	}
	return h.Store.AuthEpoch(ctx)
}

// A revocation is committed before the epoch is read again: a read that
// hangs, the request's own (its context has no deadline) or the watcher's
// (it may take two polls), must not hold its answer up for long. Nor does
// a hanging read hold up Shutdown.
func TestRevokeDoesNotWaitForTheEpoch(t *testing.T) {
	db := testenv.OpenDB(t, testenv.SQLiteURL(t))
	ctx := context.Background()
	store := &hangingStore{Store: db.Apps()}
	keys, _ := pushgate.ParseMasterKeys(pushgate.NewMasterKey())
	kr, _ := pushgate.NewKeyring(keys...)
	svc := apps.NewService(store, kr, apps.Options{AuthCacheTTL: time.Hour, EpochPoll: time.Hour})
	creds, _ := svc.Create(ctx, "a")
	k, plain, err := svc.CreateKey(ctx, creds.AppID, "ci", "")
	if err != nil {
		t.Fatal(err)
	}
	store.hang.Store(true)
	svc.Start(context.Background())

	done := make(chan error, 1)
	go func() { done <- svc.RevokeKey(ctx, creds.AppID, k.ID) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("RevokeKey: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("RevokeKey still waits for the auth epoch after 30 s")
	}
	if _, _, err := svc.Authenticate(ctx, plain); pushgate.ErrorCode(err) != pushgate.EUNAUTHORIZED {
		t.Fatalf("revoked key: %v", err)
	}

	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := svc.Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown with an epoch read hanging: %v", err)
	}
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

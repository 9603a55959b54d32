package sqlstore_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/apps"
	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/storage/sqlstore"
)

func newApp(name string) (*apps.App, *apps.APIKey) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	a := &apps.App{ID: pushgate.NewID(), Name: name, Key: pushgate.RandomToken(10), SealedSecret: "pgs1:x:" + name, CreatedAt: now}
	k := &apps.APIKey{ID: pushgate.NewID(), AppID: a.ID, Name: "k", Prefix: "pgk_abc", Role: apps.RoleAdmin, Hash: apps.HashAPIKey(pushgate.RandomToken(24)), CreatedAt: now}
	return a, k
}

// TestAppStore is the contract of apps.Store, run on every dialect.
func TestAppStore(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := db.Apps()
		a, k := newApp("one")
		if err := s.CreateApp(ctx, a, k); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetApp(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != "one" || got.Key != a.Key || got.SealedSecret != a.SealedSecret || !got.CreatedAt.Equal(a.CreatedAt) {
			t.Fatalf("GetApp = %+v, want %+v", got, a)
		}
		if byKey, err := s.GetAppByKey(ctx, a.Key); err != nil || byKey.ID != a.ID {
			t.Fatalf("GetAppByKey = %v, %v", byKey, err)
		}
		if _, err := s.GetApp(ctx, pushgate.NewID()); pushgate.ErrorCode(err) != pushgate.ENOTFOUND {
			t.Fatalf("GetApp(unknown) err = %v", err)
		}

		// The same public key twice is a conflict, and nothing is stored.
		dup, dupKey := newApp("dup")
		dup.Key = a.Key
		if err := s.CreateApp(ctx, dup, dupKey); pushgate.ErrorCode(err) != pushgate.ECONFLICT {
			t.Fatalf("duplicate key: err = %v", err)
		}
		if _, _, err := s.AppByAPIKeyHash(ctx, dupKey.Hash); pushgate.ErrorCode(err) != pushgate.ENOTFOUND {
			t.Fatal("API key of a rejected app was stored")
		}

		app, key, err := s.AppByAPIKeyHash(ctx, k.Hash)
		if err != nil || app.ID != a.ID || key.ID != k.ID || key.AppID != a.ID || key.Role != apps.RoleAdmin || key.Name != "k" || key.Hash != "" {
			t.Fatalf("AppByAPIKeyHash = %v, %+v, %v", app, key, err)
		}

		b, bk := newApp("two")
		if err := s.CreateApp(ctx, b, bk); err != nil {
			t.Fatal(err)
		}
		list, err := s.ListApps(ctx)
		if err != nil || len(list) != 2 {
			t.Fatalf("ListApps = %d apps, %v", len(list), err)
		}

		// Keys are scoped: b cannot delete a's key.
		if err := s.DeleteAPIKey(ctx, b.ID, k.ID, true); pushgate.ErrorCode(err) != pushgate.ENOTFOUND {
			t.Fatalf("cross-app key delete: err = %v", err)
		}
		extra := &apps.APIKey{ID: pushgate.NewID(), AppID: a.ID, Prefix: "pgk_x", Role: apps.RoleAdmin, Hash: apps.HashAPIKey("x"), CreatedAt: time.Now()}
		if err := s.CreateAPIKey(ctx, extra); err != nil {
			t.Fatal(err)
		}
		if keys, _ := s.ListAPIKeys(ctx, a.ID); len(keys) != 2 || keys[0].Role != apps.RoleAdmin {
			t.Fatalf("ListAPIKeys = %d keys, want 2 admin keys", len(keys))
		}
		if err := s.DeleteAPIKey(ctx, a.ID, k.ID, false); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.AppByAPIKeyHash(ctx, k.Hash); pushgate.ErrorCode(err) != pushgate.ENOTFOUND {
			t.Fatalf("revoked key still opens: %v", err)
		}
		orphan := &apps.APIKey{ID: pushgate.NewID(), AppID: pushgate.NewID(), Prefix: "p", Role: apps.RoleStandard, Hash: "h", CreatedAt: time.Now()}
		if err := s.CreateAPIKey(ctx, orphan); pushgate.ErrorCode(err) != pushgate.ENOTFOUND {
			t.Fatalf("key for a missing app: err = %v", err)
		}

		if err := s.SetAppSecret(ctx, a.ID, "pgs1:y:new"); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.GetApp(ctx, a.ID); got.SealedSecret != "pgs1:y:new" {
			t.Fatalf("secret = %q", got.SealedSecret)
		}
		if err := s.SetAppSecret(ctx, pushgate.NewID(), "x"); pushgate.ErrorCode(err) != pushgate.ENOTFOUND {
			t.Fatalf("SetAppSecret(unknown) err = %v", err)
		}

		// Deleting an app takes its keys with it.
		if err := s.DeleteApp(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.AppByAPIKeyHash(ctx, extra.Hash); pushgate.ErrorCode(err) != pushgate.ENOTFOUND {
			t.Fatal("key of a deleted app still opens")
		}
		if err := s.DeleteApp(ctx, a.ID); pushgate.ErrorCode(err) != pushgate.ENOTFOUND {
			t.Fatalf("second delete: err = %v", err)
		}
	})
}

// An app keeps at least one admin key: deleting the last one is a
// conflict unless asked for, and every change that can stop a key from
// opening its app advances the auth epoch (and nothing else does).
func TestAppStoreLastAdminAndEpoch(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := db.Apps()
		epoch := func() int64 {
			t.Helper()
			e, err := s.AuthEpoch(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return e
		}
		a, admin := newApp("a")
		if err := s.CreateApp(ctx, a, admin); err != nil {
			t.Fatal(err)
		}
		std := &apps.APIKey{ID: pushgate.NewID(), AppID: a.ID, Prefix: "pgk_s", Role: apps.RoleStandard, Hash: apps.HashAPIKey("s"), CreatedAt: time.Now()}
		if err := s.CreateAPIKey(ctx, std); err != nil {
			t.Fatal(err)
		}
		e0 := epoch()
		if err := s.DeleteAPIKey(ctx, a.ID, admin.ID, false); !errors.Is(err, apps.ErrLastAdmin) {
			t.Fatalf("deleting the last admin key: %v, want apps.ErrLastAdmin", err)
		}
		if _, _, err := s.AppByAPIKeyHash(ctx, admin.Hash); err != nil {
			t.Fatalf("refused delete removed the key: %v", err)
		}
		if err := s.DeleteAPIKey(ctx, a.ID, pushgate.NewID(), false); pushgate.ErrorCode(err) != pushgate.ENOTFOUND {
			t.Fatalf("unknown key: %v", err)
		}
		if epoch() != e0 {
			t.Fatal("a refused delete advanced the epoch")
		}
		if err := s.DeleteAPIKey(ctx, a.ID, std.ID, false); err != nil {
			t.Fatal(err)
		}
		e1 := epoch()
		if e1 <= e0 {
			t.Fatalf("epoch %d after a delete, was %d", e1, e0)
		}
		// What nodes remember about a key holds no secret: a rotation
		// has no reason to make every node forget every key.
		if err := s.SetAppSecret(ctx, a.ID, "pgs1:z"); err != nil {
			t.Fatal(err)
		}
		e2 := epoch()
		if e2 != e1 {
			t.Fatalf("rotating the secret moved the epoch from %d to %d", e1, e2)
		}
		if err := s.DeleteAPIKey(ctx, a.ID, admin.ID, true); err != nil {
			t.Fatalf("forced delete of the last admin key: %v", err)
		}
		e3 := epoch()
		if e3 <= e2 {
			t.Fatal("forced delete did not advance the epoch")
		}
		if err := s.DeleteApp(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		if epoch() <= e3 {
			t.Fatal("deleting the app did not advance the epoch")
		}
	})
}

// Two admins revoking each other at the same moment cannot leave the app
// without an admin key.
func TestAppStoreConcurrentRevokesKeepAnAdmin(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := db.Apps()
		for round := 0; round < 10; round++ {
			a, k1 := newApp("a")
			if err := s.CreateApp(ctx, a, k1); err != nil {
				t.Fatal(err)
			}
			k2 := &apps.APIKey{ID: pushgate.NewID(), AppID: a.ID, Prefix: "pgk_2", Role: apps.RoleAdmin, Hash: apps.HashAPIKey(pushgate.RandomToken(24)), CreatedAt: time.Now()}
			if err := s.CreateAPIKey(ctx, k2); err != nil {
				t.Fatal(err)
			}
			start := make(chan struct{})
			errs := make([]error, 2)
			var wg sync.WaitGroup
			for i, k := range []*apps.APIKey{k1, k2} {
				wg.Go(func() {
					<-start
					errs[i] = s.DeleteAPIKey(ctx, a.ID, k.ID, false)
				})
			}
			close(start)
			wg.Wait()
			keys, err := s.ListAPIKeys(ctx, a.ID)
			if err != nil {
				t.Fatal(err)
			}
			conflicts := 0
			for _, err := range errs {
				switch pushgate.ErrorCode(err) {
				case "":
				case pushgate.ECONFLICT:
					conflicts++
				default:
					t.Fatalf("round %d: %v", round, err)
				}
			}
			if len(keys) != 1 || conflicts != 1 {
				t.Fatalf("round %d: %d keys left, %d conflicts (errors %v); want 1 and 1", round, len(keys), conflicts, errs)
			}
		}
	})
}

// TestCreateFirstOnce: of many nodes starting at once on a new database,
// exactly one creates the first app.
func TestCreateFirstOnce(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		var wg sync.WaitGroup
		var mu sync.Mutex
		created := 0
		for i := 0; i < 8; i++ {
			wg.Go(func() {
				a, k := newApp("default")
				ok, err := db.Apps().CreateFirst(ctx, a, k)
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					created++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		list, _ := db.Apps().ListApps(ctx)
		if created != 1 || len(list) != 1 {
			t.Fatalf("created %d first apps, %d stored; want 1 and 1", created, len(list))
		}
		// Deleting the first app does not make the next start create another.
		db.Apps().DeleteApp(ctx, list[0].ID)
		a, k := newApp("default")
		if ok, err := db.Apps().CreateFirst(ctx, a, k); ok || err != nil {
			t.Fatalf("CreateFirst after delete = %v, %v", ok, err)
		}
	})
}

func TestMigrations(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		if n, err := db.Migrate(ctx); err != nil || n != 0 {
			t.Fatalf("second Migrate = %d, %v; want 0, nil", n, err)
		}
		if pending, err := db.Pending(ctx); err != nil || pending {
			t.Fatalf("Pending = %v, %v", pending, err)
		}
		st, err := db.MigrationStatus(ctx)
		if err != nil || len(st) == 0 {
			t.Fatalf("MigrationStatus = %v, %v", st, err)
		}
		for _, s := range st {
			if !s.Applied {
				t.Errorf("%s not applied", s.Name)
			}
		}
	})
}

func TestOpenRejectsUnknownURL(t *testing.T) {
	if _, err := sqlstore.Open(context.Background(), "mysql://x", sqlstore.Options{}); err == nil {
		t.Fatal("mysql URL accepted")
	}
	if _, err := sqlstore.Open(context.Background(), "", sqlstore.Options{}); err == nil {
		t.Fatal("empty URL without a data dir accepted")
	}
}

// Keys that existed before roles become admin keys (they could already do
// everything), but a key written without a role afterwards, as a node of
// the previous release would during a rolling upgrade, is a standard key:
// omitting the role never makes an admin.
func TestRoleMigration(t *testing.T) {
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			ctx := context.Background()
			db, err := sqlstore.Open(ctx, d.URL, sqlstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			st, err := db.MigrationStatus(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var roles int64
			for _, m := range st {
				if strings.Contains(m.Name, "api_key_roles") {
					roles = m.Version
				}
			}
			if roles == 0 {
				t.Fatal("no api_key_roles migration")
			}
			if err := sqlstore.MigrateUpTo(ctx, db, roles-1); err != nil {
				t.Fatal(err)
			}
			// No placeholders: the statements run unchanged on both dialects.
			insertKey := func(id string) {
				t.Helper()
				if _, err := db.ExecContext(ctx, `INSERT INTO api_keys (id, app_id, prefix, hash, created_at)
					VALUES ('`+id+`', 'app1', 'pgk_', 'hash-`+id+`', CURRENT_TIMESTAMP)`); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := db.ExecContext(ctx, `INSERT INTO apps (id, name, public_key, secret_sealed, created_at)
				VALUES ('app1', 'old', 'pk1', 'pgs1:x', CURRENT_TIMESTAMP)`); err != nil {
				t.Fatal(err)
			}
			insertKey("before")
			if _, err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			insertKey("after")
			keys, err := db.Apps().ListAPIKeys(ctx, "app1")
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]apps.Role{}
			for _, k := range keys {
				got[k.ID] = k.Role
			}
			if got["before"] != apps.RoleAdmin || got["after"] != apps.RoleStandard {
				t.Fatalf("roles %v; want the key from before the migration admin, the one written without a role after it standard", got)
			}
		})
	}
}

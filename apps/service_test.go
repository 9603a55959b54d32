package apps_test

import (
	"context"
	"strings"
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

		app, err := svc.Authenticate(ctx, creds.APIKey)
		if err != nil || app.ID != creds.AppID || app.Secret != "" {
			t.Fatalf("Authenticate = %+v, %v", app, err)
		}
		for _, bad := range []string{"", "pgk_", creds.APIKey + "x", strings.TrimPrefix(creds.APIKey, apps.APIKeyPrefix)} {
			if _, err := svc.Authenticate(ctx, bad); pushgate.ErrorCode(err) != pushgate.EUNAUTHORIZED {
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

// A revoked key stops working at once on the node that revoked it, even
// though accepted keys are cached.
func TestRevokeBeatsCache(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		svc := newService(t, db, apps.Options{AuthCacheTTL: time.Hour})
		creds, _ := svc.Create(ctx, "a")
		k, plain, err := svc.CreateKey(ctx, creds.AppID, "ci")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Authenticate(ctx, plain); err != nil {
			t.Fatal(err)
		}
		other, _ := svc.Create(ctx, "b")
		if err := svc.RevokeKey(ctx, other.AppID, k.ID); pushgate.ErrorCode(err) != pushgate.ENOTFOUND {
			t.Fatalf("revoking another app's key: %v", err)
		}
		if _, err := svc.Authenticate(ctx, plain); err != nil {
			t.Fatal("key stopped working after a refused revoke")
		}
		if err := svc.RevokeKey(ctx, creds.AppID, k.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Authenticate(ctx, plain); pushgate.ErrorCode(err) != pushgate.EUNAUTHORIZED {
			t.Fatalf("revoked key still works: %v", err)
		}
		if _, err := svc.Authenticate(ctx, creds.APIKey); err != nil {
			t.Fatal(err)
		}
		if err := svc.Delete(ctx, creds.AppID); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Authenticate(ctx, creds.APIKey); pushgate.ErrorCode(err) != pushgate.EUNAUTHORIZED {
			t.Fatalf("key of a deleted app still works: %v", err)
		}
	})
}

// Another node's revoke reaches this node's cache within the TTL.
func TestCacheExpires(t *testing.T) {
	db := testenv.OpenDB(t, testenv.SQLiteURL(t))
	ctx := context.Background()
	now := time.Now()
	clock := func() time.Time { return now }
	svc := newService(t, db, apps.Options{AuthCacheTTL: 10 * time.Second, Now: clock})
	creds, _ := svc.Create(ctx, "a")
	if _, err := svc.Authenticate(ctx, creds.APIKey); err != nil {
		t.Fatal(err)
	}
	keys, _ := svc.ListKeys(ctx, creds.AppID)
	if err := db.Apps().DeleteAPIKey(ctx, creds.AppID, keys[0].ID); err != nil { // as another node would
		t.Fatal(err)
	}
	if _, err := svc.Authenticate(ctx, creds.APIKey); err != nil {
		t.Fatal("cached key refused before its TTL")
	}
	now = now.Add(11 * time.Second)
	if _, err := svc.Authenticate(ctx, creds.APIKey); pushgate.ErrorCode(err) != pushgate.EUNAUTHORIZED {
		t.Fatalf("revoked key accepted after the TTL: %v", err)
	}
}

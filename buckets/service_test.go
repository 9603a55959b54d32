package buckets_test

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/apps"
	"github.com/pushgate/pushgate/buckets"
	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/storage/sqlstore"
)

// A node checks only so many bucket requests at once; a request that
// cannot start checking in time is turned away as unavailable, with
// nothing stored, and every request gives its slot back.
func TestCreateWaitsForACheckSlot(t *testing.T) {
	db := testenv.OpenDB(t, testenv.SQLiteURL(t))
	keys, _ := pushgate.ParseMasterKeys(pushgate.NewMasterKey())
	kr, _ := pushgate.NewKeyring(keys...)
	slots := semaphore.NewWeighted(1)
	svc := buckets.NewService(db.Buckets(), kr, buckets.ServiceOptions{Checks: slots, CheckWait: 50 * time.Millisecond})
	k, _ := ecdh.P256().GenerateKey(rand.Reader)
	body := []byte(fmt.Sprintf(`{"providerCredentials":[{"type":"vapid","payload":{"publicKey":%q,"privateKey":%q,"subject":"mailto:a@example.com"}}],"callbackConfig":{"type":"none"}}`,
		base64.RawURLEncoding.EncodeToString(k.PublicKey().Bytes()), base64.RawURLEncoding.EncodeToString(k.Bytes())))
	ctx := context.Background()
	appID := newApp(t, db)

	if !slots.TryAcquire(1) { // another request is being checked
		t.Fatal("slot taken")
	}
	_, err := svc.Create(ctx, appID, body)
	var e *pushgate.Error
	if pushgate.ErrorCode(err) != pushgate.EUNAVAILABLE || !errorsAs(err, &e) || e.RetryAfter <= 0 {
		t.Fatalf("Create while every slot is taken: %v, want EUNAVAILABLE with a Retry-After", err)
	}
	// A client that leaves while waiting gets "unavailable" too: its
	// leaving is no failure of ours (a 500 and an error log).
	gone, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := svc.Create(gone, appID, body); pushgate.ErrorCode(err) != pushgate.EUNAVAILABLE {
		t.Fatalf("Create for a client that left while waiting: %v, want EUNAVAILABLE", err)
	}
	slots.Release(1)

	b, err := svc.Create(ctx, appID, body)
	if err != nil {
		t.Fatal(err)
	}
	if !slots.TryAcquire(1) {
		t.Fatal("Create kept its slot")
	}
	slots.Release(1)
	if _, err := svc.Get(ctx, b.AppID, b.ID); err != nil {
		t.Fatal(err)
	}
	// A refused body gives its slot back too.
	if _, err := svc.Create(ctx, appID, []byte(`{}`)); pushgate.ErrorCode(err) != pushgate.EINVALID {
		t.Fatal(err)
	}
	if !slots.TryAcquire(1) {
		t.Fatal("a refused Create kept its slot")
	}
}

func newApp(t *testing.T, db *sqlstore.DB) string {
	t.Helper()
	a := &apps.App{ID: pushgate.NewID(), Name: "a", Key: pushgate.RandomToken(10), SealedSecret: "x", CreatedAt: time.Now()}
	if err := db.Apps().CreateApp(context.Background(), a, nil); err != nil {
		t.Fatal(err)
	}
	return a.ID
}

func errorsAs(err error, e **pushgate.Error) bool {
	pe, ok := err.(*pushgate.Error)
	*e = pe
	return ok
}

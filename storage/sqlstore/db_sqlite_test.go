package sqlstore_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pushgate/pushgate/internal/testenv"
)

// TestSQLiteWALStaysBounded: write transactions that take turns in Go
// (db_sqlite.go) still let SQLite checkpoint the WAL: 1500 sends of about
// nine pages each would leave a WAL of some 50 MB without checkpoints.
func TestSQLiteWALStaysBounded(t *testing.T) {
	u := testenv.SQLiteURL(t)
	db := testenv.OpenDB(t, u)
	ctx := context.Background()
	appID, bucketID, credID, ctxID := newBucket(t, db)
	now := time.Now().UTC()
	for range 1500 {
		msgs := inChunks(newMessages(10, appID, bucketID, credID, ctxID, now), 10)
		for _, m := range msgs {
			m.ForeignID = strings.Repeat("f", 1000)
			m.Receiver.ForeignID = m.ForeignID
		}
		if err := db.Messages().Insert(ctx, msgs); err != nil {
			t.Fatal(err)
		}
	}
	wal, err := os.Stat(strings.TrimPrefix(u, "sqlite:") + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	if wal.Size() > 9<<20 {
		t.Fatalf("the WAL grew to %d bytes: nothing checkpoints it", wal.Size())
	}
	if n := countMessages(t, db); n != 15000 {
		t.Fatalf("%d messages stored, want 15000", n)
	}
}

package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/storage/sqlstore"
)

// BenchmarkInsert1000 stores one bulk send's worth of messages: the
// database part of a send's answer time.
func BenchmarkInsert1000(b *testing.B) {
	for _, d := range testenv.Databases(b) {
		b.Run(d.Name, func(b *testing.B) {
			db := testenv.OpenDB(b, d.URL)
			appID, bucketID, credID, ctxID := newBucket(b, db)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				msgs := inChunks(newMessages(1000, appID, bucketID, credID, ctxID, time.Now()), 500)
				b.StartTimer()
				if err := db.Messages().Insert(context.Background(), msgs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkClaimFinish500 is a worker's database work for one chunk.
func BenchmarkClaimFinish500(b *testing.B) {
	for _, d := range testenv.Databases(b) {
		b.Run(d.Name, func(b *testing.B) {
			db := testenv.OpenDB(b, d.URL)
			benchClaimFinish(b, db)
		})
	}
}

func benchClaimFinish(b *testing.B, db *sqlstore.DB) {
	appID, bucketID, credID, ctxID := newBucket(b, db)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		msgs := inChunks(newMessages(500, appID, bucketID, credID, ctxID, time.Now()), 500)
		db.Messages().Insert(ctx, msgs)
		b.StartTimer()
		now := time.Now()
		claimed, err := db.Messages().Claim(ctx, ids(msgs), now, now.Add(time.Minute))
		if err != nil || len(claimed) != 500 {
			b.Fatal(len(claimed), err)
		}
		// A worker stores a chunk's results in one batch when they all come
		// within one delivery_result_interval.
		if err := db.Messages().Finish(ctx, resultsFor(claimed, now)); err != nil {
			b.Fatal(err)
		}
	}
}

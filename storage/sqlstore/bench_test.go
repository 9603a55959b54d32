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

// BenchmarkClaimFinish500In20 is a worker's database work for one chunk
// whose results it stores in 20 writes of 25, as it does when the chunk
// takes longer to send than 20 delivery_result_intervals.
func BenchmarkClaimFinish500In20(b *testing.B) {
	for _, d := range testenv.Databases(b) {
		b.Run(d.Name, func(b *testing.B) {
			db := testenv.OpenDB(b, d.URL)
			benchClaimFinishIn(b, db, 20)
		})
	}
}

func benchClaimFinish(b *testing.B, db *sqlstore.DB) { benchClaimFinishIn(b, db, 1) }

func benchClaimFinishIn(b *testing.B, db *sqlstore.DB, writes int) {
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
		results := resultsFor(claimed, now)
		step := len(results) / writes
		for start := 0; start < len(results); start += step {
			if err := db.Messages().Finish(ctx, results[start:min(start+step, len(results))]); err != nil {
				b.Fatal(err)
			}
		}
	}
}

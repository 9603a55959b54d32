package delivery_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/pushgate/pushgate/delivery"
	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/messages"
	"github.com/pushgate/pushgate/providers"
	"github.com/pushgate/pushgate/storage/sqlstore"
)

// batching is a providers.BatchSender over scripted: it records the size
// of every batch, and answers for only the first short messages of a
// batch when short is set.
type batching struct {
	*scripted
	max   int
	short int

	mu    sync.Mutex
	sizes []int
}

func (b *batching) MaxBatch() int { return b.max }

func (b *batching) SendBatch(ctx context.Context, ms []*providers.Message) []error {
	b.mu.Lock()
	b.sizes = append(b.sizes, len(ms))
	short := b.short
	b.short = 0
	b.mu.Unlock()
	errs := make([]error, len(ms))
	for i, m := range ms {
		errs[i] = b.scripted.Send(ctx, m)
	}
	if short > 0 {
		return errs[:short]
	}
	return errs
}

func TestBatchSenderGetsGroups(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		r := newRig(t, db, delivery.Options{ChunkSize: 250, MaxAttempts: 3})
		b := &batching{scripted: r.provider, max: 100, short: 40}
		r.batch = b
		r.provider.answers["gone-1"] = []error{providers.Permanent(providers.ReasonUnregistered, 200, nil)}
		r.startWorker()
		toks := tokens("t", 248)
		toks = append(toks, "gone-1")
		ids := r.send(toks...)
		retried := 0
		for i, m := range r.waitFinal(ids, 60*time.Second) {
			switch {
			case toks[i] == "gone-1":
				if m.Status != messages.Failed || m.Reason != "unregistered" {
					t.Errorf("gone-1: %s/%s", m.Status, m.Reason)
				}
			case m.Status != messages.Sent:
				t.Errorf("%s: %s/%s %s", toks[i], m.Status, m.Reason, m.LastError)
			}
			if m.Attempts > 1 {
				retried++
			}
		}
		// The batch answered for 40 of its 100: the other 60 had an
		// unknown fate and went again.
		if retried != 60 {
			t.Errorf("%d messages were retried, want the 60 a short answer left out", retried)
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		total := 0
		for _, n := range b.sizes {
			if n > 100 {
				t.Errorf("a batch of %d, over MaxBatch", n)
			}
			total += n
		}
		if len(b.sizes) > 5 || total != 249+60 {
			t.Errorf("batches %v", b.sizes)
		}
	})
}

package delivery

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pushgate/pushgate/messages"
)

// TestGroupCommitMergesAndSplits: commits that arrive while a write is
// under way go out together in the next write, and each caller gets back
// exactly its own results that could not be stored, with the error.
func TestGroupCommitMergesAndSplits(t *testing.T) {
	gate := make(chan struct{})
	var mu sync.Mutex
	var writes [][]string
	failed := errors.New("connection lost")
	g := &groupCommit{write: func(_ context.Context, rs []messages.Result) ([]messages.Result, error) {
		<-gate
		var ids []string
		var rest []messages.Result
		for _, r := range rs {
			ids = append(ids, r.Message.ID)
			if r.Message.ID[len(r.Message.ID)-1] == 'x' {
				rest = append(rest, r)
			}
		}
		mu.Lock()
		writes = append(writes, ids)
		mu.Unlock()
		if len(rest) > 0 {
			return rest, failed
		}
		return nil, nil
	}}
	result := func(id string) messages.Result { return messages.Result{Message: &messages.Message{ID: id}} }
	type answer struct {
		rest []messages.Result
		err  error
	}
	answers := make([]answer, 4)
	var wg sync.WaitGroup
	commit := func(i int, ids ...string) {
		wg.Go(func() {
			var rs []messages.Result
			for _, id := range ids {
				rs = append(rs, result(id))
			}
			rest, err := g.commit(context.Background(), rs)
			answers[i] = answer{rest, err}
		})
	}
	commit(0, "a1") // leads the first write, held at the gate
	waitQueued(t, g, 0)
	commit(1, "b1", "b2x")
	commit(2, "c1")
	commit(3, "d1x")
	waitQueued(t, g, 3)
	close(gate)
	wg.Wait()
	if len(writes) != 2 || len(writes[0]) != 1 || len(writes[1]) != 4 {
		t.Fatalf("writes %v: want the first alone, then the three queued meanwhile in one", writes)
	}
	for i, want := range []string{"", "b2x", "", "d1x"} {
		got := ""
		for _, r := range answers[i].rest {
			got += r.Message.ID
		}
		if got != want || (want != "") != (answers[i].err != nil) {
			t.Errorf("caller %d got back %q (%v), want %q", i, got, answers[i].err, want)
		}
	}
}

// waitQueued waits until n commits wait behind the write under way.
func waitQueued(t *testing.T, g *groupCommit, n int) {
	t.Helper()
	for range 10000 {
		g.mu.Lock()
		queued, writing := len(g.queue), g.writing
		g.mu.Unlock()
		if writing && queued == n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("never saw %d commits queued", n)
}

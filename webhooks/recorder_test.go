package webhooks_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/webhooks"
)

// gatedStore keeps client events in memory, for messages that all exist;
// RecordClientEvents waits until the gate is closed, as a slow database
// would.
type gatedStore struct {
	webhooks.Store

	mu     sync.Mutex
	gate   chan struct{}
	calls  [][]webhooks.ClientEvent
	stored map[string]bool
}

func (s *gatedStore) setGate(g chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gate = g
}

func (s *gatedStore) RecordClientEvents(_ context.Context, evs []webhooks.ClientEvent) ([]bool, error) {
	s.mu.Lock()
	gate := s.gate
	s.mu.Unlock()
	<-gate
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, evs)
	found := make([]bool, len(evs))
	for i, e := range evs {
		s.stored[e.MessageID+"/"+string(e.Kind)] = true
		found[i] = true
	}
	return found, nil
}

func TestRecorderSharesOneStatementAmongWaitingCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		first := make(chan struct{})
		st := &gatedStore{gate: first, stored: map[string]bool{}}
		rec := webhooks.NewRecorder(st, webhooks.RecorderOptions{Writers: 1})
		rec.Start(context.Background())
		defer rec.Shutdown(context.Background())
		ctx := context.Background()
		event := func() webhooks.ClientEvent {
			return webhooks.ClientEvent{ContextID: pushgate.NewID(), MessageID: pushgate.NewID(), Kind: webhooks.Delivered}
		}
		errs := make(chan error, 21)
		go func() { errs <- rec.RecordClient(ctx, event()) }()
		synctest.Wait() // the writer is inside the slow first statement
		for range 20 {
			go func() { errs <- rec.RecordClient(ctx, event()) }()
		}
		synctest.Wait() // twenty calls wait for it
		close(first)
		for range 21 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		if len(st.calls) != 2 || len(st.calls[1]) != 20 {
			t.Fatalf("21 calls made %d statements, want 2 (the slow one, then one for the 20 that waited)", len(st.calls))
		}

		// A caller that stops waiting is told so; the events are still written.
		slow := make(chan struct{})
		st.setGate(slow)
		cctx, cancel := context.WithCancel(ctx)
		go func() { errs <- rec.RecordClient(cctx, event()) }()
		synctest.Wait() // the writer is inside the statement
		cancel()
		if err := <-errs; err != context.Canceled {
			t.Fatalf("RecordClient with its context cancelled = %v", err)
		}
		close(slow)

		if err := rec.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		// After Shutdown calls are still stored, each on its own.
		if err := rec.RecordClient(ctx, event()); err != nil {
			t.Fatal(err)
		}
		st.mu.Lock()
		defer st.mu.Unlock()
		if len(st.stored) != 23 {
			t.Fatalf("%d events stored, want 23", len(st.stored))
		}
	})
}

func TestRecordClientStampsTheEvent(t *testing.T) {
	st := &gatedStore{gate: make(chan struct{}), stored: map[string]bool{}}
	close(st.gate)
	rec := webhooks.NewRecorder(st, webhooks.RecorderOptions{})
	ev := webhooks.ClientEvent{ContextID: pushgate.NewID(), MessageID: pushgate.NewID(), Kind: webhooks.Delivered, Action: "x"}
	if err := rec.RecordClient(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	got := st.calls[0][0]
	if got.EventID == "" || got.At.IsZero() || got.Action != "" {
		t.Fatalf("stored event = %+v, want an id, a time, and no action on a delivered event", got)
	}
}

package delivery_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/pushgate/pushgate/delivery"
	"github.com/pushgate/pushgate/internal/testenv"
)

// TestMaintenanceShutdownKeepsItsDeadline: a local job still running when
// the shutdown deadline passes is cancelled, and Shutdown returns then,
// saying so, instead of waiting for it.
func TestMaintenanceShutdownKeepsItsDeadline(t *testing.T) {
	opt, err := asynq.ParseRedisURI(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	q := delivery.NewQueue(delivery.QueueOptions{Redis: opt, Namespace: testenv.Namespace(t)})
	defer q.Close()
	started, cancelled := make(chan struct{}), make(chan struct{})
	slow := delivery.Job{Name: "slow", Run: func(ctx context.Context) error {
		close(started)
		<-ctx.Done()
		close(cancelled)
		return ctx.Err()
	}}
	m := delivery.NewMaintenance(q, time.Hour, nil, nil, []delivery.Job{slow})
	// Start's ctx ending does not stop the jobs: only Shutdown does.
	startCtx, endStart := context.WithCancel(context.Background())
	m.Start(startCtx)
	endStart()
	<-started
	select {
	case <-cancelled:
		t.Fatal("the local job was cancelled with Start's context")
	case <-time.After(50 * time.Millisecond):
	}

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := m.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want the deadline's error", err)
	}
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the local job was not cancelled at the deadline")
	}
}

// A second Shutdown (a node stopped twice by its embedder) is harmless.
func TestMaintenanceShutdownTwice(t *testing.T) {
	opt, err := asynq.ParseRedisURI(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	q := delivery.NewQueue(delivery.QueueOptions{Redis: opt, Namespace: testenv.Namespace(t)})
	defer q.Close()
	m := delivery.NewMaintenance(q, time.Hour, nil, nil, nil)
	m.Start(context.Background())
	for range 2 {
		if err := m.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

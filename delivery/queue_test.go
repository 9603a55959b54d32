package delivery_test

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/pushgate/pushgate/delivery"
	"github.com/pushgate/pushgate/internal/testenv"
)

// TestWorkerRuns proves the queue and worker are wired: a task goes
// through Redis (the real server in CI, miniredis otherwise) to the
// worker's handler of its type, and only to a worker of its namespace.
func TestWorkerRuns(t *testing.T) {
	opt, err := asynq.ParseRedisURI(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	ns := testenv.Namespace(t)
	q := delivery.NewQueue(delivery.QueueOptions{Redis: opt, Namespace: ns})
	defer q.Close()
	ctx := context.Background()
	handled := make(chan string, 2)
	enqueue := func(q *delivery.Queue, id string) {
		t.Helper()
		if _, err := q.Enqueue(ctx, delivery.QueueCritical, asynq.NewTask("test:echo", []byte(id)), asynq.MaxRetry(0)); err != nil {
			t.Fatal(err)
		}
	}
	// Enqueued before any worker runs: it waits in Redis.
	enqueue(q, "early")

	w := delivery.NewWorker(delivery.WorkerOptions{Redis: opt, Namespace: ns, Concurrency: 2})
	w.Handle("test:echo", asynq.HandlerFunc(func(_ context.Context, t *asynq.Task) error {
		handled <- string(t.Payload())
		return nil
	}))
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer w.Shutdown(ctx)
	enqueue(q, "late")
	got := map[string]bool{}
	for len(got) < 2 {
		select {
		case id := <-handled:
			got[id] = true
		case <-time.After(15 * time.Second):
			t.Fatalf("handled %v; want early and late", got)
		}
	}

	// A worker of another namespace does not take this namespace's tasks.
	other := delivery.NewQueue(delivery.QueueOptions{Redis: opt, Namespace: testenv.Namespace(t)})
	defer other.Close()
	enqueue(other, "other")
	select {
	case id := <-handled:
		t.Fatalf("the worker took %q, a task of another namespace", id)
	case <-time.After(500 * time.Millisecond):
	}
}

package delivery_test

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/pushgate/pushgate/delivery"
	"github.com/pushgate/pushgate/internal/testenv"
)

// TestWorkerRuns proves the queue and worker are wired: a ping task goes
// through Redis (the real server in CI, miniredis otherwise) to a worker and
// is reported done.
func TestWorkerRuns(t *testing.T) {
	opt, err := asynq.ParseRedisURI(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	ns := testenv.Namespace(t)
	q := delivery.NewQueue(delivery.QueueOptions{Redis: opt, Namespace: ns})
	defer q.Close()

	// Without a worker, nothing handles the ping.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	if err := q.Ping(ctx); err == nil {
		t.Fatal("ping answered with no worker running")
	}
	cancel()

	w := delivery.NewWorker(delivery.WorkerOptions{Redis: opt, Namespace: ns, Concurrency: 2})
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer w.Shutdown(context.Background())
	ctx, cancel = context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := q.Ping(ctx); err != nil {
		t.Fatal(err)
	}

	// A worker of another namespace does not take this namespace's tasks.
	other := delivery.NewQueue(delivery.QueueOptions{Redis: opt, Namespace: testenv.Namespace(t)})
	defer other.Close()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel2()
	if err := other.Ping(ctx2); err == nil {
		t.Fatal("a worker took another namespace's task")
	}
}

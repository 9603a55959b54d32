package webhooks

import (
	"context"
	"sync"
)

// runner is the lifecycle shared by the background loops: Start once,
// Shutdown waits for the work in progress and, if the caller's deadline
// comes first, cancels it (a batch cut short is retried after its lease).
type runner struct {
	stop     chan struct{}
	stopOnce sync.Once
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	mu       sync.Mutex
	started  bool
}

func newRunner() *runner {
	ctx, cancel := context.WithCancel(context.Background())
	return &runner{stop: make(chan struct{}), ctx: ctx, cancel: cancel}
}

// start runs fn in a goroutine, unless the runner was started or stopped.
// fn's work reads r.ctx, which keeps ctx's values but not its end: only
// shutdown ends it.
func (r *runner) start(ctx context.Context, fn func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started || r.stopping() {
		return
	}
	r.started = true
	r.cancel()
	r.ctx, r.cancel = context.WithCancel(context.WithoutCancel(ctx))
	r.wg.Go(fn)
}

func (r *runner) stopping() bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}

func (r *runner) shutdown(ctx context.Context) error {
	r.mu.Lock()
	r.stopOnce.Do(func() { close(r.stop) })
	cancel := r.cancel
	r.mu.Unlock()
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
		cancel()
		return nil
	case <-ctx.Done():
		cancel()
		<-done
		return ctx.Err()
	}
}

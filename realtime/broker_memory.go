package realtime

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
)

// MemoryBroker is the broker of one process: the embedded default (one node)
// and tests that run several hubs side by side.
type MemoryBroker struct {
	mu   sync.Mutex // serialises changes to subs
	subs atomic.Pointer[[]*memorySub]
}

type memorySub struct{ deliver func(*Event) }

var _ Broker = (*MemoryBroker)(nil)

// NewMemoryBroker returns a broker with no subscribers.
func NewMemoryBroker() *MemoryBroker {
	b := &MemoryBroker{}
	b.subs.Store(&[]*memorySub{})
	return b
}

// Publish delivers e to every subscriber, in the caller's goroutine, before
// it returns. The subscriber list is copied on change, so a publication takes
// no lock.
func (b *MemoryBroker) Publish(ctx context.Context, e *Event) error {
	for _, s := range *b.subs.Load() {
		s.deliver(e)
	}
	return nil
}

// Subscribe adds deliver; cancel removes it.
func (b *MemoryBroker) Subscribe(ctx context.Context, deliver func(*Event)) (func(), error) {
	s := &memorySub{deliver: deliver}
	b.mu.Lock()
	b.subs.Store(new(append(slices.Clone(*b.subs.Load()), s)))
	b.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			b.subs.Store(new(slices.DeleteFunc(slices.Clone(*b.subs.Load()), func(x *memorySub) bool { return x == s })))
			b.mu.Unlock()
		})
	}, nil
}

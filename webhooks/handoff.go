package webhooks

import (
	"sync"
	"time"
)

// MadeBatch is a batch a Flusher made, with the target it looked up for
// the batch's bucket.
type MadeBatch struct {
	ID     string
	Target *Target
}

// handoffTTL bounds how long a handed-over target waits for its batch's
// claim. A batch claimed later (by a busy or another node's Dispatcher, or
// again after a failed attempt) has its target looked up afresh, so that a
// changed or removed callback is seen.
const handoffTTL = 10 * time.Second

// handoff keeps the targets of the batches the Flusher made until the
// Dispatcher claims them: a batch's target is then looked up (and its
// secret unsealed) once, not once to batch and again to send.
type handoff struct {
	mu      sync.Mutex
	targets map[string]handedTarget
}

type handedTarget struct {
	target *Target
	at     time.Time
}

// put keeps made's targets, and forgets those older than handoffTTL.
func (h *handoff) put(made []MadeBatch, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, t := range h.targets {
		if now.Sub(t.at) >= handoffTTL {
			delete(h.targets, id)
		}
	}
	if h.targets == nil {
		h.targets = make(map[string]handedTarget, len(made))
	}
	for _, m := range made {
		if m.Target != nil {
			h.targets[m.ID] = handedTarget{target: m.Target, at: now}
		}
	}
}

// take returns and forgets the target handed over with batch id, or nil
// when there is none younger than handoffTTL.
func (h *handoff) take(id string, now time.Time) *Target {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.targets[id]
	if !ok {
		return nil
	}
	delete(h.targets, id)
	if now.Sub(t.at) >= handoffTTL {
		return nil
	}
	return t.target
}

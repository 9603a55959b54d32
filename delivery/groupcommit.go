package delivery

import (
	"context"
	"sync"
	"time"

	"github.com/pushgate/pushgate/messages"
)

// groupCommit writes the results of all of a node's running tasks that are
// ready at the same moment in one transaction. Each task's flusher calls
// commit with what it learned; while a write is under way, or until
// spacing has passed since the last round started, the others queue, and
// the next write takes the whole queue. So a lane writes once per spacing
// (or per write's duration, if longer) however many tasks run, each write
// covering every task's latest results: a short ResultInterval costs the
// database one transaction per lane and interval, not one per task.
//
// No goroutine of its own: the first caller to find no write under way
// writes (leads) one round, then hands the lead to the first caller that
// queued meanwhile.
type groupCommit struct {
	write func(ctx context.Context, rs []messages.Result) ([]messages.Result, error)
	// spacing is the least time from the start of one round to the start
	// of the next (Options.ResultInterval): what a lane writes is then at
	// most about that old, and a node writes a few dozen times a second
	// however many tasks commit (each write costs the database about the
	// same however many results it holds).
	spacing time.Duration

	mu      sync.Mutex
	queue   []*commitRequest
	writing bool
	last    time.Time // the start of the last round
}

type commitRequest struct {
	rs   []messages.Result
	rest []messages.Result // what could not be stored, to be tried again
	err  error
	lead bool          // woken to lead the next round, not with its answer
	wake chan struct{} // closed when answered or given the lead
}

// commit stores rs together with what other tasks commit at the same
// time. It returns what write returned for rs: the results to try again,
// and the error that kept them out.
func (g *groupCommit) commit(ctx context.Context, rs []messages.Result) ([]messages.Result, error) {
	req := &commitRequest{rs: rs, wake: make(chan struct{})}
	g.mu.Lock()
	g.queue = append(g.queue, req)
	if g.writing {
		g.mu.Unlock()
		<-req.wake
		if !req.lead {
			return req.rest, req.err
		}
		g.mu.Lock()
	}
	g.writing = true
	if wait := g.spacing - time.Since(g.last); wait > 0 {
		g.mu.Unlock() // the others queue meanwhile: they join this round
		time.Sleep(wait)
		g.mu.Lock()
	}
	g.last = time.Now()
	round := g.queue
	g.queue = nil
	g.mu.Unlock()

	g.run(ctx, round, req)

	g.mu.Lock()
	if len(g.queue) > 0 {
		next := g.queue[0]
		next.lead = true
		close(next.wake)
	} else {
		g.writing = false
	}
	g.mu.Unlock()
	return req.rest, req.err
}

// run writes the results of round in one call and answers each request
// but self (the caller) with its share of what is left.
func (g *groupCommit) run(ctx context.Context, round []*commitRequest, self *commitRequest) {
	var all []messages.Result
	if len(round) == 1 {
		all = round[0].rs
	} else {
		n := 0
		for _, r := range round {
			n += len(r.rs)
		}
		all = make([]messages.Result, 0, n)
		for _, r := range round {
			all = append(all, r.rs...)
		}
	}
	rest, err := g.write(ctx, all)
	if len(rest) > 0 {
		owner := make(map[string]*commitRequest, len(all))
		for _, r := range round {
			for i := range r.rs {
				owner[r.rs[i].Message.ID] = r
			}
		}
		for _, x := range rest {
			if r := owner[x.Message.ID]; r != nil {
				r.rest = append(r.rest, x)
				r.err = err
			}
		}
	}
	for _, r := range round {
		if r != self {
			close(r.wake)
		}
	}
}

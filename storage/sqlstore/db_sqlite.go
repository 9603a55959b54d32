package sqlstore

import "context"

// SQLite has one writer at a time. Left to itself, a transaction that
// finds the write lock taken sleeps in SQLite's busy handler (1, 2, 5, 10
// ... up to 100 ms between tries), so a send's short insert behind a
// worker's write waited several times as long as the write took. Instead
// write transactions (inTx: all are IMMEDIATE) take turns on writeTurn, a
// Go semaphore whose waiters are woken in order the moment the turn is
// free, before they ask SQLite for the lock. (Statements outside a
// transaction still meet the busy handler: none is on a send's path.)
//
// WAL checkpoints stay SQLite's own: the commit that fills the WAL past
// 1000 pages copies it back, in its turn. A checkpointer beside the
// writers was tried and cannot keep the WAL bounded: the WAL starts again
// from the beginning only when a writer begins with all of it copied,
// which a steady stream of writers never lets happen.

// writeTurn is a SQLite DB's write turn.
type writeTurn chan struct{}

// acquire waits for the write turn, or ctx.
func (w writeTurn) acquire(ctx context.Context) error {
	select {
	case w <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// release gives the turn up.
func (w writeTurn) release() { <-w }

package sqlstore

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// SQLite has one writer at a time. Left to itself, a transaction that
// finds the write lock taken sleeps in SQLite's busy handler (1, 2, 5, 10
// ... up to 100 ms between tries), so a send's short insert behind a
// worker's write waited several times as long as the write took; and the
// commit that filled the WAL past wal_autocheckpoint copied it into the
// database there and then, inside its transaction's turn, so every writer
// behind it waited for that too. Instead:
//
//   - write transactions (inTx: all are IMMEDIATE) take turns on
//     writeTurn, a Go semaphore whose waiters are woken in order the
//     moment the turn is free, before they ask SQLite for the lock;
//   - connections never checkpoint on commit (wal_autocheckpoint(0)): a
//     checkpointer of the DB's own runs a PASSIVE checkpoint, which takes
//     no write lock, every checkpointEvery commits or checkpointIdle,
//     beside the writers. Close stops it.

const (
	checkpointEvery = 256
	checkpointIdle  = time.Second
)

// sqliteWriter is a SQLite DB's write turn and checkpointer.
type sqliteWriter struct {
	turn    chan struct{}
	commits atomic.Int64
	kick    chan struct{}
	stop    chan struct{}
	done    sync.WaitGroup
	once    sync.Once
}

func newSQLiteWriter() *sqliteWriter {
	return &sqliteWriter{turn: make(chan struct{}, 1), kick: make(chan struct{}, 1), stop: make(chan struct{})}
}

// acquire waits for the write turn, or ctx.
func (w *sqliteWriter) acquire(ctx context.Context) error {
	select {
	case w.turn <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// release gives the turn up, counting a commit if there was one.
func (w *sqliteWriter) release(committed bool) {
	<-w.turn
	if committed && w.commits.Add(1)%checkpointEvery == 0 {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
}

// start runs the checkpointer of db until shutdown.
func (w *sqliteWriter) start(db *DB) {
	w.done.Add(1)
	go func() {
		defer w.done.Done()
		idle := time.NewTicker(checkpointIdle)
		defer idle.Stop()
		last := w.commits.Load()
		for {
			select {
			case <-w.stop:
				return
			case <-w.kick:
			case <-idle.C:
				if w.commits.Load() == last {
					continue
				}
			}
			last = w.commits.Load()
			// A checkpoint that fails (the database closing, a reader on an
			// old snapshot) is tried again at the next occasion.
			_, _ = db.DB.ExecContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`)
		}
	}()
}

// shutdown stops the checkpointer and waits for it.
func (w *sqliteWriter) shutdown() {
	w.once.Do(func() { close(w.stop) })
	w.done.Wait()
}

// Close stops a SQLite database's checkpointer and closes db.
func (db *DB) Close() error {
	if db.writer != nil {
		db.writer.shutdown()
	}
	return db.DB.Close()
}

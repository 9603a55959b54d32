package sqlstore

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// A deadlock or serialization failure is tried again until it passes, up
// to transientAttempts; any other error is returned at once.
func TestRetryTransient(t *testing.T) {
	deadlock := &pgconn.PgError{Code: "40P01", Message: "deadlock detected"}
	calls := 0
	err := retryTransient(context.Background(), func() error {
		if calls++; calls < 3 {
			return deadlock
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("deadlocked twice, then passed: %v after %d calls", err, calls)
	}
	calls = 0
	err = retryTransient(context.Background(), func() error { calls++; return &pgconn.PgError{Code: "40001"} })
	if !transient(err) || calls != transientAttempts {
		t.Fatalf("always a serialization failure: %v after %d calls, want %d", err, calls, transientAttempts)
	}
	calls = 0
	other := &pgconn.PgError{Code: "23505"}
	err = retryTransient(context.Background(), func() error { calls++; return other })
	if !errors.Is(err, other) || calls != 1 {
		t.Fatalf("a unique violation: %v after %d calls, want 1", err, calls)
	}
}

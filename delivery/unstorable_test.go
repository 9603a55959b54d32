package delivery_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/delivery"
	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/messages"
	"github.com/pushgate/pushgate/storage/sqlstore"
)

// logRecorder keeps the records logged through it.
type logRecorder struct {
	mu      sync.Mutex
	records []string // "LEVEL message key=value ..."
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	l.mu.Lock()
	l.records = append(l.records, b.String())
	l.mu.Unlock()
	return nil
}

// errors returns the error records that mention s.
func (l *logRecorder) errors(s string) []string { return l.at("ERROR", s) }

// at returns the records of level that mention s.
func (l *logRecorder) at(level, s string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.records {
		if strings.HasPrefix(r, level+" ") && strings.Contains(r, s) {
			out = append(out, r)
		}
	}
	return out
}

// waitLogged waits until at least n records of level mention s.
func (l *logRecorder) waitLogged(t *testing.T, level, s string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(l.at(level, s)) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d %s records mention %s, want %d; all: %v", len(l.at(level, s)), level, s, n, l.records)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// insertChunk stores a chunk of messages straight through the store (no
// API, no receiver checks), due long ago, so the next sweep enqueues it.
func (r *rig) insertChunk(foreignIDs ...string) []string {
	r.t.Helper()
	then := r.clock.Now().UTC().Add(-10 * time.Minute)
	ids := pushgate.NewIDGroup(len(foreignIDs))
	msgs := make([]*messages.Message, len(ids))
	for i, id := range ids {
		recv := r.receivers(fmt.Sprintf("tok-%d-%s", i, id[len(id)-6:]))[0]
		recv.ForeignID = foreignIDs[i]
		msgs[i] = &messages.Message{ID: id, AppID: r.bucket.AppID, BucketID: r.bucket.ID, ContextID: r.context.ID, CredentialID: recv.CredentialID,
			Provider: string(r.bucket.Credentials[0].Type), ForeignID: foreignIDs[i], Receiver: recv, Status: messages.Queued,
			CreatedAt: then, UpdatedAt: then, EnqueuedAt: then}
	}
	if err := r.db.Messages().Insert(context.Background(), msgs); err != nil {
		r.t.Fatal(err)
	}
	return ids
}

func (r *rig) sweep() int {
	r.t.Helper()
	n, err := r.sender.Sweep(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	return n
}

// A receiver whose foreignId holds a NUL (PostgreSQL cannot store it in
// text) got into the outbox: the worker sends its chunk once, stores every
// result (on PostgreSQL in the chunk's row, which holds it), and never
// sends it again. Its chunk is not cut by the sweep either.
func TestUnstorableResultEndsOnce(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		logs := &logRecorder{}
		r := newRig(t, db, delivery.Options{ChunkSize: 4, MaxAttempts: 3, Lease: time.Minute, Logger: slog.New(logs)})
		first := r.insertChunk("user-1", "user-2", "user-3")
		second := r.insertChunk("user-4", "bad\x00id", "user-6")
		r.startWorker()
		if n := r.sweep(); n != 6 {
			t.Fatalf("sweep enqueued %d, want 6", n)
		}
		ids := append(first, second...)
		got := r.waitFinal(ids, 30*time.Second)
		for i, m := range got {
			if n := r.provider.count(m.ID); n != 1 {
				t.Errorf("message %d sent %d times, want once", i, n)
			}
			if i == 4 {
				continue
			}
			if m.Status != messages.Sent || m.ForeignID != fmt.Sprintf("user-%d", i+1) || m.Reason != "" {
				t.Errorf("message %d: %s/%s foreignId %q", i, m.Status, m.Reason, m.ForeignID)
			}
		}
		// SQLite holds a NUL, and so does a PostgreSQL chunk's row, where a
		// final result of a chunk claimed whole is kept (bytea).
		if bad := got[4]; bad.Status != messages.Sent || bad.ForeignID != "bad\x00id" {
			t.Errorf("the message with a NUL: %s foreignId %q", bad.Status, bad.ForeignID)
		}
		r.clock.Jump(10 * time.Minute)
		if n := r.sweep(); n != 0 {
			t.Fatalf("a later sweep enqueued %d messages again", n)
		}
	})
}

// refusingStore refuses, as a database would, every batch of results that
// carries message bad: with text it cannot hold (a NUL or invalid UTF-8),
// or, if always, whatever it carries.
type refusingStore struct {
	messages.Store
	bad    string
	always bool
}

func (s *refusingStore) Finish(ctx context.Context, results []messages.Result) error {
	for _, r := range results {
		if r.Message.ID != s.bad {
			continue
		}
		m := r.Message
		if s.always {
			return fmt.Errorf("finish messages: %w: refused", messages.ErrUnstorable)
		}
		for _, text := range []string{m.ForeignID, m.Receiver.ForeignID, m.Receiver.Token, m.Receiver.UserID, m.Receiver.Endpoint, r.Error, r.Reason} {
			if !utf8.ValidString(text) || strings.ContainsRune(text, 0) {
				return fmt.Errorf("finish messages: %w: invalid byte sequence", messages.ErrUnstorable)
			}
		}
	}
	return s.Store.Finish(ctx, results)
}

// unstorableText is the last error of a result stored sanitized: the same
// for every refusal, since what the database said (SQL, SQLSTATE) is for
// the operator's log, and the status API shows last errors to tenants.
const unstorableText = "the database refused this result as it was; its text was replaced"

// A store whose Finish refuses one message's result as it is: the others
// of its chunk are stored normally, and that one ends sanitized, sent once,
// with a last error that does not repeat the database's words.
func TestResultRefusedAsItIsEndsSanitized(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		logs := &logRecorder{}
		r := newRig(t, db, delivery.Options{MaxAttempts: 3, Lease: time.Minute, Logger: slog.New(logs)})
		ids := r.insertChunk("user-0", "user-1", "\xffuser-2", "user-3", "user-4")
		r.store = &refusingStore{Store: db.Messages(), bad: ids[2]}
		r.startWorker()
		r.sweep()
		got := r.waitSentOnce(ids)
		// Both keep the text stored at the send with the result (PostgreSQL
		// in the chunk's row).
		if got[2].ForeignID != "\xffuser-2" || got[2].Reason != "unstorable" || got[2].LastError != unstorableText || got[0].Reason != "" || got[0].ForeignID != "user-0" {
			t.Errorf("foreign ids %q %q, reasons %q %q, last error %q", got[2].ForeignID, got[0].ForeignID, got[2].Reason, got[0].Reason, got[2].LastError)
		}
		logs.waitLogged(t, "ERROR", ids[2], 1)
		r.clock.Jump(10 * time.Minute)
		if n := r.sweep(); n != 0 {
			t.Fatalf("a later sweep enqueued %d messages again", n)
		}
	})
}

// A store whose Finish always refuses one message: the others of its chunk
// are stored once, and that one is sent at most delivery_max_attempts
// times however many times its lease ends, each failure logged with its id.
func TestResultAlwaysRefusedIsNotSentForever(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		logs := &logRecorder{}
		const maxAttempts = 3
		r := newRig(t, db, delivery.Options{MaxAttempts: maxAttempts, Lease: time.Minute, Logger: slog.New(logs)})
		ids := r.insertChunk("user-0", "user-1", "user-2", "user-3")
		bad := ids[1]
		r.store = &refusingStore{Store: db.Messages(), bad: bad, always: true}
		r.startWorker()
		r.sweep()
		r.waitFinal([]string{ids[0], ids[2], ids[3]}, 30*time.Second)
		logs.waitLogged(t, "ERROR", bad, 1)
		for cycle := 2; cycle <= maxAttempts+3; cycle++ {
			r.clock.Jump(2 * time.Minute) // the lease ends; the sweep hands the message out again
			if n := r.sweep(); n != 1 {
				t.Fatalf("cycle %d: the sweep enqueued %d, want the refused message", cycle, n)
			}
			logs.waitLogged(t, "ERROR", bad, cycle)
		}
		if n := r.provider.count(bad); n < 1 || n > maxAttempts {
			t.Fatalf("the refused message was sent %d times, want 1 to %d", n, maxAttempts)
		}
		for _, id := range []string{ids[0], ids[2], ids[3]} {
			if m := r.get(id); m.Status != messages.Sent || r.provider.count(id) != 1 {
				t.Fatalf("message %s: %s, sent %d times", id, m.Status, r.provider.count(id))
			}
		}
	})
}

// A chunk whose claims keep ending without a result (its workers die) is
// not sent again once it was claimed delivery_max_attempts times: the next
// claim ends it as failed, with a logged reason.
func TestChunkClaimedTooOftenFails(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		logs := &logRecorder{}
		const maxAttempts = 2
		r := newRig(t, db, delivery.Options{MaxAttempts: maxAttempts, Lease: time.Minute, Logger: slog.New(logs)})
		ids := r.insertChunk("user-0", "user-1", "user-2")
		for range maxAttempts { // a worker claims the chunk and dies
			now := r.clock.Now()
			if got, err := db.Messages().Claim(context.Background(), ids, now, now.Add(time.Minute)); err != nil || len(got) != 3 {
				t.Fatalf("claim: %d, %v", len(got), err)
			}
			r.clock.Jump(2 * time.Minute)
			r.sweep()
		}
		r.startWorker()
		for i, m := range r.waitFinal(ids, 30*time.Second) {
			if m.Status != messages.Failed || m.Reason != "unavailable" || m.Attempts != maxAttempts || r.provider.count(m.ID) != 0 {
				t.Errorf("message %d: %s/%s after %d attempts (%q), sent %d times", i, m.Status, m.Reason, m.Attempts, m.LastError, r.provider.count(m.ID))
			}
		}
		logs.waitLogged(t, "WARN", ids[0], 1)
	})
}

// After an operator lowers delivery_max_attempts, a message whose stored
// retries already used them up fails when next claimed, not sent again,
// with a last error and a log line that say so without claiming its
// results were lost.
func TestLoweredMaxAttemptsEndsStoredRetries(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		logs := &logRecorder{}
		r := newRig(t, db, delivery.Options{MaxAttempts: 2, Lease: time.Minute, Logger: slog.New(logs)})
		ids := r.insertChunk("user-0", "user-1")
		now := r.clock.Now()
		claimed, err := db.Messages().Claim(context.Background(), ids, now, now.Add(time.Minute))
		if err != nil || len(claimed) != 2 {
			t.Fatalf("claim: %d, %v", len(claimed), err)
		}
		var retries []messages.Result // three tries stored while the limit was higher
		for _, m := range claimed {
			retries = append(retries, messages.Result{Message: m, Status: messages.Queued, Reason: "unavailable", Error: "503", Attempts: 3, At: now, RetryAt: now})
		}
		if err := db.Messages().Finish(context.Background(), retries); err != nil {
			t.Fatal(err)
		}
		r.startWorker()
		r.clock.Jump(2 * time.Minute)
		if n := r.sweep(); n != 2 {
			t.Fatalf("sweep enqueued %d, want 2", n)
		}
		for i, m := range r.waitFinal(ids, 30*time.Second) {
			if m.Status != messages.Failed || m.Reason != "unavailable" || m.Attempts != 3 || r.provider.count(m.ID) != 0 ||
				m.LastError != "no attempts left (3 claims): not sent again" {
				t.Errorf("message %d: %s/%s after %d attempts (%q), sent %d times", i, m.Status, m.Reason, m.Attempts, m.LastError, r.provider.count(m.ID))
			}
		}
		// One warning of the claim names both messages; each failed
		// message also has its own "message failed" warning.
		claimWarnings := 0
		for _, w := range logs.at("WARN", ids[0]) {
			if strings.Contains(w, "no attempts left when claimed") {
				claimWarnings++
			}
		}
		if len(logs.errors("attempts")) != 0 || claimWarnings != 1 || len(logs.at("WARN", "message failed reason=unavailable")) != 2 {
			t.Errorf("want one warning naming the messages, one per failed message, no error: %v", logs.records)
		}
	})
}

// awayStore fails every Finish while the database is away (a lost
// connection: a failure that may pass), counting the refusals.
type awayStore struct {
	messages.Store
	mu      sync.Mutex
	away    int // Finish calls still to refuse
	refused int
}

func (s *awayStore) Finish(ctx context.Context, results []messages.Result) error {
	s.mu.Lock()
	if s.away > 0 {
		s.away--
		s.refused++
		s.mu.Unlock()
		return fmt.Errorf("finish messages: %w", syscall.ECONNREFUSED)
	}
	s.mu.Unlock()
	return s.Store.Finish(ctx, results)
}

// Results whose last write fails while the database is away are written
// when it is back, within the claim's lease: the chunk ends sent, each
// message sent once, without waiting for the lease to end and the sweep.
func TestLastResultsWrittenWhenTheDatabaseIsBack(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		r := newRig(t, db, delivery.Options{MaxAttempts: 3, Lease: time.Minute})
		ids := r.insertChunk("user-0", "user-1", "user-2")
		store := &awayStore{Store: db.Messages(), away: 3}
		r.store = store
		r.startWorker()
		r.sweep()
		r.waitSentOnce(ids)
		store.mu.Lock()
		defer store.mu.Unlock()
		if store.refused != 3 {
			t.Errorf("%d writes refused, want 3", store.refused)
		}
	})
}

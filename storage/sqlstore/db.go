package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pressly/goose/v3"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	"modernc.org/sqlite"               // registers "sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/pushgate/pushgate"
)

// Dialect is the SQL flavour of a database.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DB is a database handle that knows its dialect.
type DB struct {
	*sql.DB
	Dialect Dialect
	// Where is a description for logs with any password removed.
	Where string
	now   func() time.Time

	migOnce sync.Once
	mig     *goose.Provider
	migErr  error

	// writer takes SQLite's write transactions in turns (db_sqlite.go);
	// nil on PostgreSQL.
	writer writeTurn
}

// Options tune Open.
type Options struct {
	// DataDir holds the SQLite file when the URL is empty.
	DataDir string
	// MaxOpenConns bounds the PostgreSQL pool (default 20).
	MaxOpenConns int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Open opens the database a URL names: "" for SQLite in opts.DataDir,
// "sqlite:PATH" (or "sqlite://PATH", "file:PATH") for SQLite at PATH,
// "postgres://..." or "postgresql://..." for PostgreSQL. It checks that the
// database answers before it returns.
func Open(ctx context.Context, rawURL string, opts Options) (*DB, error) {
	db := &DB{now: opts.Now}
	if db.now == nil {
		db.now = time.Now
	}
	var err error
	switch {
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		db.Dialect = Postgres
		db.Where = redact(rawURL)
		db.DB, err = sql.Open("pgx", rawURL)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		n := opts.MaxOpenConns
		if n <= 0 {
			n = 20
		}
		db.SetMaxOpenConns(n)
		db.SetMaxIdleConns(n)
		db.SetConnMaxIdleTime(5 * time.Minute)
	case rawURL == "", strings.HasPrefix(rawURL, "sqlite:"), strings.HasPrefix(rawURL, "file:"):
		path := rawURL
		for _, p := range []string{"sqlite://", "sqlite:", "file:"} {
			if strings.HasPrefix(path, p) {
				path = strings.TrimPrefix(path, p)
				break
			}
		}
		if path == "" {
			if opts.DataDir == "" {
				return nil, errors.New("open sqlite: no data directory")
			}
			if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
				return nil, fmt.Errorf("open sqlite: %w", err)
			}
			path = filepath.Join(opts.DataDir, "pushgate.db")
		}
		db.Dialect = SQLite
		db.Where = path
		// WAL lets readers run beside the writer; IMMEDIATE transactions take
		// the write lock up front so two writers wait (busy_timeout) instead
		// of failing when one upgrades a read lock.
		dsn := "file:" + path + "?_txlock=immediate&_time_format=sqlite" +
			"&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)" +
			"&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)"
		db.DB, err = sql.Open("sqlite", dsn)
		if err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		db.SetMaxOpenConns(8)
		db.SetMaxIdleConns(8)
		db.writer = make(writeTurn, 1)
	default:
		return nil, fmt.Errorf("database URL %q: want postgres://, postgresql://, sqlite: or empty", redact(rawURL))
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to %s: %w", db.Where, err)
	}
	return db, nil
}

// redact keeps credentials, which a database URL may carry in its
// user-info or its query (password=...), out of logs and errors.
func redact(raw string) string { return pushgate.RedactURL(raw) }

// rebind turns ? placeholders into $1, $2... for PostgreSQL. Queries in this
// package never contain a literal question mark.
func (db *DB) rebind(q string) string {
	if db.Dialect != Postgres {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (db *DB) exec(ctx context.Context, q querier, query string, args ...any) (sql.Result, error) {
	return q.ExecContext(ctx, db.rebind(query), args...)
}

func (db *DB) query(ctx context.Context, q querier, query string, args ...any) (*sql.Rows, error) {
	return q.QueryContext(ctx, db.rebind(query), args...)
}

func (db *DB) queryRow(ctx context.Context, q querier, query string, args ...any) *sql.Row {
	return q.QueryRowContext(ctx, db.rebind(query), args...)
}

// inTx runs fn in a transaction, committing if it returns nil. On SQLite
// it waits for its write turn first (db_sqlite.go).
func (db *DB) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if db.writer != nil {
		if err := db.writer.acquire(ctx); err != nil {
			return err
		}
		defer db.writer.release()
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// mustAffect turns "no row changed" into ENOTFOUND.
func mustAffect(res sql.Result, what string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return pushgate.NotFound(what)
	}
	return nil
}

// isUniqueViolation reports whether err is a unique-constraint failure.
func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	return errorsContains(err, "SQLSTATE 23505") || errorsContains(err, "UNIQUE constraint failed")
}

// errorsContains matches driver errors by text: the two drivers share no
// error type, and both put the constraint kind in the message.
func errorsContains(err error, s string) bool {
	return err != nil && strings.Contains(err.Error(), s)
}

// refusedData reports whether the database refused a statement for the
// data it carried, which the same data would meet again: PostgreSQL's data
// exceptions (class 22: a NUL or invalid UTF-8 in text, a value out of
// range), integrity violations (23) and program limits (54: a row too
// big); SQLite's too big, constraint and type mismatch. Lost connections,
// deadlocks, timeouts and the like are not: they may pass.
func refusedData(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code[:min(2, len(pgErr.Code))] {
		case "22", "23", "54":
			return true
		}
		return false
	}
	var liteErr *sqlite.Error
	if errors.As(err, &liteErr) {
		switch liteErr.Code() & 0xff {
		case sqlite3.SQLITE_TOOBIG, sqlite3.SQLITE_CONSTRAINT, sqlite3.SQLITE_MISMATCH:
			return true
		}
	}
	return false
}

// transient reports whether PostgreSQL aborted a transaction for another
// one's sake: a deadlock (40P01) or a serialization failure (40001). The
// same work again may pass.
func transient(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "40001")
}

// retryTransient runs f, which must be safe to run again, up to
// transientAttempts times while it fails transiently, pausing a little
// longer (and at random) before each new attempt.
func retryTransient(ctx context.Context, f func() error) error {
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil || attempt == transientAttempts || !transient(err) {
			return err
		}
		pause := time.Duration(attempt*attempt)*5*time.Millisecond + rand.N(10*time.Millisecond)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pause):
		}
	}
}

const transientAttempts = 6

// collect reads every row with scan and closes rows.
func collect[T any](rows *sql.Rows, scan func(interface{ Scan(...any) error }) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Package testenv gives tests the real services when CI provides them and
// embedded stand-ins otherwise: a database per test (a SQLite file always,
// and a fresh PostgreSQL schema when PUSHGATE_TEST_DATABASE_URL is set) and
// a Redis (the server at PUSHGATE_TEST_REDIS_URL, or an in-process
// miniredis). Tests sharing one Redis stay apart through their own queue
// namespace. StoreEvents puts webhook events into a database the ways the
// server does, for tests of what comes after.
package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/pushgate/pushgate/storage/sqlstore"
)

// Database is one database a test runs against.
type Database struct {
	Name string // "sqlite" or "postgres"
	URL  string
}

// Databases returns a fresh, empty database of each available dialect.
func Databases(t testing.TB) []Database {
	t.Helper()
	dbs := []Database{{Name: "sqlite", URL: SQLiteURL(t)}}
	if u, ok := PostgresURL(t); ok {
		dbs = append(dbs, Database{Name: "postgres", URL: u})
	}
	return dbs
}

// ForEachDatabase runs fn as a subtest per dialect, each with a fresh,
// migrated database.
func ForEachDatabase(t *testing.T, fn func(t *testing.T, db *sqlstore.DB)) {
	t.Helper()
	for _, d := range []string{"sqlite", "postgres"} {
		t.Run(d, func(t *testing.T) {
			var u string
			if d == "sqlite" {
				u = SQLiteURL(t)
			} else {
				var ok bool
				if u, ok = PostgresURL(t); !ok {
					t.Skip("PUSHGATE_TEST_DATABASE_URL is not set")
				}
			}
			fn(t, OpenDB(t, u))
		})
	}
}

// SQLiteURL names a new SQLite file in the test's temporary folder.
func SQLiteURL(t testing.TB) string {
	return "sqlite:" + filepath.Join(t.TempDir(), "test.db")
}

// PostgresURL creates a schema of its own for the test in the database at
// PUSHGATE_TEST_DATABASE_URL and returns a URL whose search_path is that
// schema; the schema is dropped when the test ends.
func PostgresURL(t testing.TB) (string, bool) {
	t.Helper()
	base := os.Getenv("PUSHGATE_TEST_DATABASE_URL")
	if base == "" {
		return "", false
	}
	schema := "t_" + randomHex(8)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		t.Fatalf("testenv: create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Logf("testenv: drop schema %s: %v", schema, err)
		}
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("testenv: PUSHGATE_TEST_DATABASE_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), true
}

// OpenDB opens and migrates the database at u, closing it when the test ends.
func OpenDB(t testing.TB, u string) *sqlstore.DB {
	t.Helper()
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, u, sqlstore.Options{})
	if err != nil {
		t.Fatalf("testenv: open %s: %v", u, err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatalf("testenv: migrate: %v", err)
	}
	return db
}

// RedisURL returns PUSHGATE_TEST_REDIS_URL, or the URL of a miniredis that
// lives as long as the test.
func RedisURL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv("PUSHGATE_TEST_REDIS_URL"); u != "" {
		return u
	}
	mr := miniredis.RunT(t)
	return "redis://" + mr.Addr()
}

// RealRedis reports whether tests run against a Redis server.
func RealRedis() bool { return os.Getenv("PUSHGATE_TEST_REDIS_URL") != "" }

// Namespace returns a queue namespace no other test uses.
func Namespace(t testing.TB) string {
	name := strings.Map(func(r rune) rune {
		if r == '/' || r == ' ' || r == ':' {
			return '_'
		}
		return r
	}, t.Name())
	if len(name) > 40 {
		name = name[:40]
	}
	return "test_" + name + "_" + randomHex(4)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

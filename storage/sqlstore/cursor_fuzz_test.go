package sqlstore

import (
	"testing"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/internal/fuzzcheck"
)

// FuzzCursor: a cursor from a client is refused as "cursor", or names a
// time and an id that encode back to it.
func FuzzCursor(f *testing.F) {
	f.Add(encodeCursor(time.Date(2026, 12, 3, 14, 0, 0, 123000, time.UTC), pushgate.NewID()))
	f.Add("")
	f.Add("bm90IGEgY3Vyc29y")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := decodeCursor(s)
		if err != nil {
			if p := fuzzcheck.Refused(err, "cursor"); p != "" {
				t.Fatal(p)
			}
			return
		}
		if k == nil {
			if s != "" {
				t.Fatalf("cursor %q read as the first page", s)
			}
			return
		}
		again, err := decodeCursor(encodeCursor(k.at, k.id))
		if err != nil || !again.at.Equal(k.at) || again.id != k.id {
			t.Fatalf("cursor %q: %v, %v does not round-trip", s, k, err)
		}
	})
}

package pushgate

import (
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	prev := ""
	for i := 0; i < 1000; i++ {
		id := newIDAt(time.UnixMilli(int64(1_700_000_000_000 + i)))
		if !ValidID(id) {
			t.Fatalf("invalid id %q", id)
		}
		if id[14] != '7' || (id[19] != '8' && id[19] != '9' && id[19] != 'a' && id[19] != 'b') {
			t.Fatalf("id %q is not a version 7 RFC 9562 UUID", id)
		}
		if seen[id] || id <= prev {
			t.Fatalf("id %q repeats or does not sort after %q", id, prev)
		}
		seen[id], prev = true, id
	}
	for _, bad := range []string{"", "not-an-id", "01a20978-fd05-7be4-8758-9d446baa218", "01a20978-fd05-7be4-8758_9d446baa218e", "01a20978-fd05-7be4-8758-9d446baa218g"} {
		if ValidID(bad) {
			t.Errorf("ValidID(%q)", bad)
		}
	}
}

func TestNewIDGroup(t *testing.T) {
	a, b := NewIDGroup(5000), NewIDGroup(3)
	seen := map[string]bool{}
	for i, id := range append(a, b...) {
		if !ValidID(id) || id[14] != '7' || seen[id] {
			t.Fatalf("id %d %q is invalid or repeats", i, id)
		}
		seen[id] = true
	}
	if IDGroup(a[0]) != IDGroup(a[4999]) || IDGroup(a[0]) == IDGroup(b[0]) || b[0] <= a[0] {
		t.Fatalf("groups: %q %q %q", IDGroup(a[0]), IDGroup(a[4999]), IDGroup(b[0]))
	}
	for _, id := range a {
		if !strings.HasPrefix(id, IDGroup(id)) {
			t.Fatalf("id %q does not start with its group %q", id, IDGroup(id))
		}
	}
	if IDGroup(NewID()) == IDGroup(NewID()) || IDGroup("short") != "short" {
		t.Fatal("NewID shares groups")
	}
}

// TestIDGroupSiblingsAreUnpredictable: what the ids of one group share is
// at most the time and 8 more bits, and each of the other bits is a coin
// toss for every id, so one id tells nothing of its siblings: at least 64
// bits stay to guess.
func TestIDGroupSiblingsAreUnpredictable(t *testing.T) {
	const n = 4096
	ids := NewIDGroup(n)
	g := IDGroup(ids[0])
	// 12 characters of milliseconds, two dashes, the version: a group may
	// share at most two more hex characters (8 bits) beyond that.
	if len(g) > 17 {
		t.Fatalf("the ids of a group share %d characters (%q): over the time, version and 8 bits", len(g), g)
	}
	ones := make([]int, 128)
	for _, id := range ids {
		if IDGroup(id) != g {
			t.Fatalf("id %q is not in group %q", id, g)
		}
		for bit, v := range idBits(t, id) {
			ones[bit] += int(v)
		}
	}
	// A fair bit is set in n/2 ± 5 standard deviations (±160) of the ids;
	// a bit the group shares is set in none or all.
	random := 0
	for bit, c := range ones {
		if c > n/2-160 && c < n/2+160 {
			random++
		} else if c != 0 && c != n {
			t.Errorf("bit %d set in %d of %d ids: neither fixed nor random", bit, c, n)
		}
	}
	if random < 64 {
		t.Fatalf("the ids of a group differ in %d random bits, want at least 64", random)
	}
	// And any two siblings differ: no id is one flipped bit from another.
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id[len(g):]] {
			t.Fatalf("two ids of a group end alike: %q", id)
		}
		seen[id[len(g):]] = true
	}
}

// idBits returns the 128 bits of a canonical UUID, one a byte.
func idBits(t *testing.T, id string) []byte {
	t.Helper()
	raw, err := hex.DecodeString(strings.ReplaceAll(id, "-", ""))
	if err != nil || len(raw) != 16 {
		t.Fatalf("id %q: %v", id, err)
	}
	out := make([]byte, 128)
	for i := range out {
		out[i] = raw[i/8] >> (7 - i%8) & 1
	}
	return out
}

// TestIDGroupsOfOneProcessDiffer: groups made at once in one process never
// share their IDGroup (the outbox keys a chunk by it).
func TestIDGroupsOfOneProcessDiffer(t *testing.T) {
	seen := map[string]bool{}
	prev := ""
	for i := 0; i < 20000; i++ {
		g := IDGroup(NewIDGroup(1)[0])
		if seen[g] || g <= prev {
			t.Fatalf("group %q repeats or does not sort after %q", g, prev)
		}
		seen[g], prev = true, g
	}
}

func TestNewIDIncreasesWithinAMillisecond(t *testing.T) {
	at := time.UnixMilli(1_800_000_000_000)
	prev := newIDAt(at)
	for i := 0; i < 10000; i++ {
		id := newIDAt(at)
		if id <= prev || !ValidID(id) || id[14] != '7' {
			t.Fatalf("id %q after %q", id, prev)
		}
		prev = id
	}
}

func TestErrorHelpers(t *testing.T) {
	if ErrorCode(nil) != "" || ErrorMessage(nil) != "" {
		t.Fatal("nil error has a code or message")
	}
	err := Invalid("bad", "a: b")
	if ErrorCode(err) != EINVALID || ErrorMessage(err) != "bad" {
		t.Fatal(err)
	}
	if ErrorCode(errPlain("boom")) != EINTERNAL || ErrorMessage(errPlain("boom")) != "internal error" {
		t.Fatal("a plain error leaks its text or code")
	}
}

type errPlain string

func (e errPlain) Error() string { return string(e) }

// BenchmarkNewIDGroup500 makes the ids of one full chunk, as a send does.
func BenchmarkNewIDGroup500(b *testing.B) {
	for b.Loop() {
		NewIDGroup(500)
	}
}

package pushgate

import (
	"bytes"
	"encoding/hex"
	"slices"
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

// TestDistinctTails: tails that repeat an earlier one (which random draws
// almost never do) are drawn again; the first of each stays.
func TestDistinctTails(t *testing.T) {
	a := []byte{0x05, 0x81, 1, 2, 3, 4, 5, 6, 7}
	b := []byte{0x0a, 0xbf, 7, 6, 5, 4, 3, 2, 1}
	tails := slices.Concat(a, b, a, b, a)
	distinctTails(tails)
	if !bytes.Equal(tails[:9], a) || !bytes.Equal(tails[9:18], b) {
		t.Fatalf("the first tails changed: % x", tails[:18])
	}
	seen := map[string]bool{}
	for i := 0; i < len(tails); i += 9 {
		tail := tails[i : i+9]
		if seen[string(tail)] || tail[0]&0xf0 != 0 || tail[1]&0xc0 != 0x80 {
			t.Fatalf("tail %d % x repeats or is not masked", i/9, tail)
		}
		seen[string(tail)] = true
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

// stampOf returns the milliseconds and group counter of a canonical id, as
// ms<<8 | counter.
func stampOf(t *testing.T, id string) uint64 {
	t.Helper()
	raw, err := hex.DecodeString(id[0:8] + id[9:13] + id[15:17])
	if err != nil {
		t.Fatalf("id %q: %v", id, err)
	}
	var s uint64
	for _, c := range raw {
		s = s<<8 | uint64(c)
	}
	return s
}

// TestSkipIDGroups: after another process took a group (same millisecond,
// same counter), a retry's group must not follow on from it, where the
// other process's next groups are likely to be: SkipIDGroups moves the
// next group to a random counter at least a millisecond on, and groups of
// this process stay strictly increasing.
func TestSkipIDGroups(t *testing.T) {
	const n = 2000
	next := 0                 // retries that landed on the taken group's next counter
	gaps := map[uint64]bool{} // how far on the retries landed
	for range n {
		taken := stampOf(t, NewIDGroup(1)[0])
		SkipIDGroups()
		retry := stampOf(t, NewIDGroup(2)[0])
		if retry <= taken {
			t.Fatalf("a retry's group %x does not follow %x", retry, taken)
		}
		if retry == taken+1 {
			next++
		}
		gaps[retry-taken] = true
	}
	// Random over 256 counters: the next one about 8 times in 2000, and
	// well over a hundred distinct distances.
	if next > 40 || len(gaps) < 100 {
		t.Fatalf("%d of %d retries took the next counter, %d distinct distances: not random", next, n, len(gaps))
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

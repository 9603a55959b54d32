package pushgate

import (
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
	if IDGroup(a[0]) != IDGroup(a[4999]) || IDGroup(a[0]) == IDGroup(b[0]) || len(IDGroup(a[0])) != 28 || b[0] <= a[0] {
		t.Fatalf("groups: %q %q %q", IDGroup(a[0]), IDGroup(a[4999]), IDGroup(b[0]))
	}
	// Neighbours share nothing after the group: no id tells another.
	if same := func(x, y string) bool { return x[28:32] == y[28:32] || x[32:] == y[32:] }; same(a[0], a[1]) && same(a[1], a[2]) {
		t.Fatalf("ids %q %q %q look sequential", a[0], a[1], a[2])
	}
	if IDGroup(NewID()) == IDGroup(NewID()) || IDGroup("short") != "short" {
		t.Fatal("NewID shares groups")
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

package hostile

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
)

// pending lists the cases that fail today because of an open defect (the
// numbers are those of issue 11), by case name, or "name@backend" when the
// case fails on one backend only. A pending case that fails is logged; one
// that passes fails the run with "remove from pending", so this list only
// ever shrinks. Never add a case here to hide a new failure: fix it, or
// file it as a defect first.
var pending = map[string]string{
	// Every case of issue 11 passes: nothing is pending.
}

// judged records the pending entries a run has decided, so entries whose
// case no longer exists are found (TestMain).
var judged sync.Map

// judge decides one case: its problems fail t, unless the case is pending,
// when they are logged; a pending case without problems fails t.
func judge(t *testing.T, backend, name string, problems []string) {
	t.Helper()
	key := name + "@" + backend
	defect, isPending := pending[key]
	if !isPending {
		key = name
		defect, isPending = pending[key]
	}
	if isPending {
		judged.Store(key, true)
	}
	switch {
	case isPending && len(problems) > 0:
		t.Logf("pending (%s): %s", defect, strings.Join(problems, "; "))
	case isPending:
		t.Errorf("passes now: remove %q from pending (%s)", key, defect)
	case len(problems) > 0:
		t.Errorf("case %q:\n\t%s", name, strings.Join(problems, "\n\t"))
	}
}

// skipCases skips t, whose cases are named with prefix, and counts their
// pending entries as judged: they are not stale, just not run here.
func skipCases(t *testing.T, prefix, format string, args ...any) {
	t.Helper()
	for key := range pending {
		if strings.HasPrefix(key, prefix) {
			judged.Store(key, true)
		}
	}
	t.Skipf(format, args...)
}

// TestMain runs the suite and, when every test ran, fails it if a pending
// entry names no case: a renamed case must not leave its entry behind.
func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if code != 0 || flagSet("test.run") || flagSet("test.skip") || testing.Short() {
		os.Exit(code)
	}
	var stale []string
	for key := range pending {
		if strings.HasSuffix(key, "@postgres") && !slices.Contains(backends(), "postgres") {
			continue
		}
		if _, ok := judged.Load(key); !ok {
			stale = append(stale, key)
		}
	}
	if len(stale) > 0 {
		sort.Strings(stale)
		fmt.Fprintf(os.Stderr, "FAIL: pending entries that name no case of this run:\n  %s\n", strings.Join(stale, "\n  "))
		os.Exit(1)
	}
	os.Exit(code)
}

func flagSet(name string) bool {
	f := flag.Lookup(name)
	return f != nil && f.Value.String() != ""
}

package contexts_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/contexts"
	"github.com/pushgate/pushgate/internal/fuzzcheck"
)

var fuzzKinds = []contexts.Kind{contexts.KindData, contexts.KindRaw, contexts.KindSilent, "bogus"}

// FuzzParse feeds Parse and ParseMetadata arbitrary bodies. Neither may
// panic; every refusal must be an EINVALID error naming at least one field;
// and every accepted context must pass Validate and survive being stored
// (Body) and parsed again unchanged.
func FuzzParse(f *testing.F) {
	for i, file := range []string{"data_full.json", "raw_full.json", "silent.json"} {
		f.Add(uint8(i), readFile(f, file))
	}
	for _, tc := range slices.Concat(dataCases(), rawCases(), silentCases()) {
		f.Add(kindIndex(tc.kind), []byte(tc.body))
	}
	for _, body := range []string{``, `{`, `[]`, `null`, `"x"`, `{"title": 5}`, `{"common": {"data": [1]}}`,
		`{"ttl": 1e999}`, `{"actions": [null, {}, []]}`, `{"ios": {"aps": {"alert": {}}}, "android": {"data": {"a": 1}}}`} {
		for k := range fuzzKinds {
			f.Add(uint8(k), []byte(body))
		}
	}
	f.Fuzz(func(t *testing.T, k uint8, body []byte) {
		kind := fuzzKinds[int(k)%len(fuzzKinds)]
		c, err := contexts.Parse(kind, body, now)
		check(t, kind, c, err, "")
		c, err = contexts.ParseMetadata(kind, body, now)
		check(t, kind, c, err, "metadata")
	})
}

func check(t *testing.T, kind contexts.Kind, c *contexts.Context, err error, prefix string) {
	t.Helper()
	if err != nil {
		if c != nil {
			t.Fatalf("both a context and an error: %v", err)
		}
		var pe *pushgate.Error
		if !errors.As(err, &pe) || pe.Code != pushgate.EINVALID || len(pe.Fields) == 0 {
			t.Fatalf("error %v is not an EINVALID *pushgate.Error with fields", err)
		}
		for _, f := range pe.Fields {
			if !strings.Contains(f, ": ") || (prefix != "" && !strings.HasPrefix(f, prefix) && !strings.HasPrefix(f, "kind: ")) {
				t.Fatalf("field problem %q has no path", f)
			}
			if s := fuzzcheck.Problem(f); s != "" {
				t.Fatal(s)
			}
		}
		if s := fuzzcheck.GoSpelling(pe.Message); s != "" {
			t.Fatalf("message %q shows Go's %q", pe.Message, s)
		}
		return
	}
	if c == nil || c.Kind != kind {
		t.Fatalf("context = %+v for kind %s", c, kind)
	}
	if err := c.Validate(now); err != nil {
		t.Fatalf("Parse accepted what Validate refuses: %v", err)
	}
	stored, err := c.Body()
	if err != nil {
		t.Fatalf("Body: %v", err)
	}
	if !utf8.Valid(stored) {
		t.Fatalf("stored body %q is not UTF-8: PostgreSQL cannot store it", stored)
	}
	again, err := contexts.Parse(kind, stored, now)
	if err != nil {
		t.Fatalf("stored body %s does not parse: %v", stored, err)
	}
	if restored, _ := again.Body(); string(restored) != string(stored) {
		t.Fatalf("stored body changed on re-parse:\n%s\n%s", stored, restored)
	}
}

func kindIndex(k contexts.Kind) uint8 {
	for i, fk := range fuzzKinds {
		if fk == k {
			return uint8(i)
		}
	}
	return 0
}

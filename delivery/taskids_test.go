package delivery

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestIDListReadsWhatJSONReads: the fast path and encoding/json agree on
// the arrays json.Marshal writes, and on what it never writes.
func TestIDListReadsWhatJSONReads(t *testing.T) {
	for _, in := range []string{
		`[]`, `["a"]`, `["0123456789abcdefghijklmnopqr","0123456789abcdefghijklmnopqs"]`, `[""]`, `["",""]`,
		`null`, `[ "a" ]`, `["a\"b"]`, `["\u00e9"]`, `["é"]`, `["a",]`, `[,"a"]`, `["a""b"]`, `["a",1]`, `["a"`, `"a"`,
		"[\"a\tb\"]", "[\"\xff\"]",
	} {
		checkIDList(t, []byte(in))
	}
	for _, ids := range [][]string{{"x", "y,z", "<&>"}, {"\u2028", "\x00", "\xff"}} {
		b, _ := json.Marshal(ids)
		checkIDList(t, b)
	}
}

func FuzzIDList(f *testing.F) {
	f.Add([]byte(`["a","b"]`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`["a\n",""]`))
	f.Fuzz(func(t *testing.T, in []byte) { checkIDList(t, in) })
}

// checkIDList fails t when idList and encoding/json read in differently.
func checkIDList(t *testing.T, in []byte) {
	t.Helper()
	var want []string
	wantErr := json.Unmarshal(in, &want)
	var got idList
	gotErr := json.Unmarshal(in, &got)
	if (wantErr == nil) != (gotErr == nil) || wantErr == nil && !reflect.DeepEqual([]string(got), want) {
		t.Errorf("%q: idList %q (%v), encoding/json %q (%v)", in, got, gotErr, want, wantErr)
	}
}

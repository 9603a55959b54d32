package contexts_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/contexts"
)

// Vendor sections of a raw context are kept byte for byte, and PostgreSQL
// cannot store text that is not UTF-8: such a context was accepted, and the
// request failed with 500 when it was stored. JSON must be UTF-8 (RFC
// 8259), so the body is refused at the door on every backend alike.
func TestParseRefusesABodyThatIsNotUTF8(t *testing.T) {
	for _, tc := range []struct {
		kind contexts.Kind
		body string
		meta bool
		want string
	}{
		{contexts.KindRaw, "{\"android\":{\"android\":{\"t\x90l\":\"600s\"}}}", false, "body: must be UTF-8 text"},
		{contexts.KindRaw, "{\"ios\":{\"aps\":{\"alert\":\"\xff\"}}}", true, "metadata: must be UTF-8 text"},
		{contexts.KindData, "{\"title\":\"caf\xe9\"}", false, "body: must be UTF-8 text"},
	} {
		var err error
		if tc.meta {
			_, err = contexts.ParseMetadata(tc.kind, []byte(tc.body), now)
		} else {
			_, err = contexts.Parse(tc.kind, []byte(tc.body), now)
		}
		var e *pushgate.Error
		if !errors.As(err, &e) || e.Code != pushgate.EINVALID || !slices.Equal(e.Fields, []string{tc.want}) {
			t.Errorf("%q: %v, want the problem %q", tc.body, err, tc.want)
		}
	}
}

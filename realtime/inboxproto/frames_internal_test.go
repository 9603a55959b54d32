package inboxproto

import (
	"bytes"
	"testing"
)

// unseenFrame is the fast path of render for the unseen frame: the bytes
// must be the same.
func TestUnseenFrameIsRender(t *testing.T) {
	for _, n := range []int{0, 1, 9, 10, 499, 1 << 31, -1} {
		if got, want := unseenFrame(n), render(TypeUnseen, countPayload{Count: n}); !bytes.Equal(got, want) {
			t.Errorf("unseenFrame(%d) = %s, render gives %s", n, got, want)
		}
	}
}

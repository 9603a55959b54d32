package webhooks

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// A reason over MaxReason is cut on a character boundary: half a
// character is text PostgreSQL refuses to store.
func TestLongReasonIsCutOnACharacter(t *testing.T) {
	e := Event{Kind: Failed, MessageID: "m", Reason: strings.Repeat("a", MaxReason-1) + "é and more"}
	e.normalize("events[0]", time.Now())
	if !utf8.ValidString(e.Reason) || len(e.Reason) > MaxReason || !strings.HasPrefix(e.Reason, strings.Repeat("a", MaxReason-1)) {
		t.Fatalf("reason cut to %d bytes, valid UTF-8 %v", len(e.Reason), utf8.ValidString(e.Reason))
	}
}

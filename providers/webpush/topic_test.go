package webpush

import (
	"strings"
	"testing"

	"github.com/pushgate/pushgate"
)

// TestTopicOf: the Topic made from a message id is one RFC 8030 accepts
// (at most 32 characters of URL-safe base64), the same for one id and
// different for two, from UUIDs and from other ids alike.
func TestTopicOf(t *testing.T) {
	a, b := pushgate.NewID(), pushgate.NewID()
	for _, id := range []string{a, b, "m-1", strings.Repeat("x", 300), "01JABCDEF-not-a-uuid-but-36-chars-xx"} {
		if got := topicOf(id); !validTopic(got) || got != topicOf(id) {
			t.Errorf("topicOf(%q) = %q: not a valid Topic, or not stable", id, got)
		}
	}
	if topicOf(a) == topicOf(b) || topicOf("m-1") == topicOf("m-2") {
		t.Error("two message ids gave one Topic")
	}
	if got := topicOf(a); len(got) != 22 {
		t.Errorf("topicOf(UUID) = %q, want its 16 bytes in 22 characters", got)
	}
}

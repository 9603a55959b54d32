package sqlstore

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/pushgate/pushgate/webhooks"
)

func TestSortEventsByTimeThenMessageThenKind(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0).UTC()
	want := []webhooks.Event{
		{MessageID: "b", Kind: webhooks.Sent, At: t0},
		{MessageID: "c", Kind: webhooks.Clicked, At: t0},
		{MessageID: "c", Kind: webhooks.Sent, At: t0},
		{MessageID: "a", Kind: webhooks.Sent, At: t0.Add(time.Microsecond)},
		{MessageID: "a", Kind: webhooks.Sent, At: t0.Add(time.Second), Reason: "first of two equal"},
		{MessageID: "a", Kind: webhooks.Sent, At: t0.Add(time.Second), Reason: "second of two equal"},
	}
	sortEvents(want) // sorted already: left as it is
	if want[4].Reason != "first of two equal" {
		t.Fatalf("a sorted batch was reordered: %+v", want)
	}
	for range 20 {
		got := slices.Clone(want)
		rand.Shuffle(len(got)-2, func(i, j int) { got[i], got[j] = got[j], got[i] }) // the equal pair stays in order
		sortEvents(got)
		if !slices.Equal(got, want) {
			t.Fatalf("sortEvents = %+v\nwant %+v", got, want)
		}
	}
}

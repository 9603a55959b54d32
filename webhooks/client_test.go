package webhooks_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/webhooks"
)

// refusingStore fails the test if anything reaches it.
type refusingStore struct {
	webhooks.Store
	t *testing.T
}

func (s refusingStore) RecordClientEvents(context.Context, []webhooks.ClientEvent) ([]bool, error) {
	s.t.Error("an invalid client event reached the store")
	return nil, errors.New("refused")
}

// A click's action comes from anyone who holds a message id. PostgreSQL
// cannot store NUL in text (the route answered 500 there), so it is refused
// on every backend alike.
func TestRecordClientRefusesAnActionThatCannotBeStored(t *testing.T) {
	rec := webhooks.NewRecorder(refusingStore{t: t}, webhooks.RecorderOptions{})
	for _, action := range []string{"buy\x00", "\x00", "buy\xff"} {
		err := rec.RecordClient(context.Background(), webhooks.ClientEvent{ContextID: pushgate.NewID(), MessageID: pushgate.NewID(), Kind: webhooks.Clicked, Action: action})
		var e *pushgate.Error
		if !errors.As(err, &e) || e.Code != pushgate.EINVALID || !slices.Equal(e.Fields, []string{"action: must be UTF-8 text without NUL characters"}) {
			t.Errorf("action %q: %v, want it refused as not storable", action, err)
		}
	}
}

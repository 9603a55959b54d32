package apns_test

import (
	"encoding/json"
	"testing"

	"github.com/pushgate/pushgate/contexts"
)

// TestCollapseIDFromMessageID: a context that sets no collapse id of its
// own collapses each message on its id, so a message sent twice (after a
// crash) replaces itself on the device: the same apns-collapse-id each
// time, another one for another message; a context's own tag wins.
func TestCollapseIDFromMessageID(t *testing.T) {
	f, p, _ := tokenProvider(t, "com.example.app")
	plain := &contexts.Context{ID: "ctx-1", Kind: contexts.KindData, Data: &contexts.Data{Title: "Hi", Body: "there"}}
	m := message(t, plain)
	first, _ := sendOne(t, f, p, m)
	again, _ := sendOne(t, f, p, m)
	other, _ := sendOne(t, f, p, message(t, plain))
	if first.CollapseID != m.ID || again.CollapseID != m.ID {
		t.Errorf("a message sent twice carried apns-collapse-id %q and %q, want its id %q both times", first.CollapseID, again.CollapseID, m.ID)
	}
	if other.CollapseID == m.ID || other.CollapseID == "" {
		t.Errorf("another message carried apns-collapse-id %q (the first's is %q)", other.CollapseID, m.ID)
	}

	own := map[string]*contexts.Context{
		"data tag":         {ID: "ctx-2", Kind: contexts.KindData, Data: &contexts.Data{Title: "Hi", Tag: "score"}},
		"raw collapse key": {ID: "ctx-3", Kind: contexts.KindRaw, Raw: &contexts.Raw{IOS: json.RawMessage(`{"aps":{"alert":"hi"}}`), Common: &contexts.RawCommon{CollapseKey: "score"}}},
	}
	for name, c := range own {
		if got, _ := sendOne(t, f, p, message(t, c)); got.CollapseID != "score" {
			t.Errorf("%s: apns-collapse-id %q, want the context's own %q", name, got.CollapseID, "score")
		}
	}
	silent := message(t, &contexts.Context{ID: "ctx-4", Kind: contexts.KindSilent, Silent: &contexts.Silent{ExternalData: "x"}})
	if got, _ := sendOne(t, f, p, silent); got.CollapseID != silent.ID {
		t.Errorf("silent: apns-collapse-id %q, want the message id %q", got.CollapseID, silent.ID)
	}
}

package hms_test

import (
	"encoding/json"
	"testing"

	"github.com/pushgate/pushgate/contexts"
	"github.com/pushgate/pushgate/providers/providertest"
)

// TestNotificationTagFromMessageID: a notification whose context sets no
// tag of its own carries its message id as android.notification.tag, so
// sent twice (after a crash) it replaces itself in the drawer: the same tag
// each time, another for another message; a context's own tag wins; a
// data-only message, and a raw one whose huawei.data is shared by every
// receiver, get none.
func TestNotificationTagFromMessageID(t *testing.T) {
	fake := providertest.NewHMS(t)
	p := newProvider(t, fake)
	send := func(id string, c *contexts.Context) any {
		t.Helper()
		if err := p.Send(t.Context(), message(id, c, token(1))); err != nil {
			t.Fatal(err)
		}
		d := fake.Delivered()
		n, _ := d[len(d)-1].Android["notification"].(map[string]any)
		return n["tag"]
	}
	plain := &contexts.Context{ID: "ctx-1", Kind: contexts.KindData, Data: &contexts.Data{Title: "Hi", Body: "there"}}
	first, again, other := send("m1", plain), send("m1", plain), send("m2", plain)
	if first != "m1" || again != "m1" || other != "m2" {
		t.Errorf("tags %v, %v (one message twice), %v (another): want m1, m1, m2", first, again, other)
	}
	raw := func(notification json.RawMessage, data string) *contexts.Context {
		return &contexts.Context{ID: "ctx-r", Kind: contexts.KindRaw, Raw: &contexts.Raw{
			Huawei: &contexts.RawHuawei{Notification: notification, Data: data}, Common: &contexts.RawCommon{Title: "t"}}}
	}
	cases := []struct {
		name string
		c    *contexts.Context
		want any
	}{
		{"data tag", &contexts.Context{ID: "ctx-2", Kind: contexts.KindData, Data: &contexts.Data{Title: "Hi", Tag: "score"}}, "score"},
		{"data only", &contexts.Context{ID: "ctx-3", Kind: contexts.KindData, Data: &contexts.Data{ExternalData: "x"}}, nil},
		{"raw notification", raw(nil, ""), "m3"},
		{"raw tag", raw(json.RawMessage(`{"title":"t","body":"b","tag":"score"}`), ""), "score"},
		{"raw huawei.data", raw(nil, `{"same":"for all"}`), nil},
	}
	for _, tc := range cases {
		if got := send("m3", tc.c); got != tc.want {
			t.Errorf("%s: tag %v, want %v", tc.name, got, tc.want)
		}
	}
}

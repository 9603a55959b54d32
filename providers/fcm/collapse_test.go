package fcm_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/pushgate/pushgate/contexts"
	"github.com/pushgate/pushgate/providers/providertest"
)

// TestNotificationTagFromMessageID: a notification message whose context
// sets no tag of its own carries its message id as android.notification.tag,
// so sent twice (after a crash) it replaces itself in the drawer: the same
// tag each time, another for another message. No collapse key is derived
// (FCM keeps four per offline device); a context's own tag or collapse key
// wins; a data-only message gets no notification field at all.
func TestNotificationTagFromMessageID(t *testing.T) {
	fake := providertest.NewFCM(t)
	p, _ := newProvider(t, fake, "shop-app")
	send := func(id string, c *contexts.Context) providertest.FCMMessage {
		t.Helper()
		if err := p.Send(context.Background(), message(id, c, token(1))); err != nil {
			t.Fatal(err)
		}
		d := fake.Delivered()
		return d[len(d)-1]
	}
	tag := func(m providertest.FCMMessage) string {
		if m.Android == nil || m.Android.Notification == nil {
			return ""
		}
		return m.Android.Notification.Tag
	}
	plain := &contexts.Context{ID: "ctx-1", Kind: contexts.KindData, Data: &contexts.Data{Title: "Hi", Body: "there"}}
	first, again, other := send("msg-1", plain), send("msg-1", plain), send("msg-2", plain)
	if tag(first) != "msg-1" || tag(again) != "msg-1" || tag(other) != "msg-2" {
		t.Errorf("tags %q, %q (the same message twice), %q (another): want msg-1, msg-1, msg-2", tag(first), tag(again), tag(other))
	}
	if first.Android.CollapseKey != "" {
		t.Errorf("collapse_key %q derived; FCM keeps only four per offline device", first.Android.CollapseKey)
	}

	rawNotification := &contexts.Context{ID: "ctx-2", Kind: contexts.KindRaw, Raw: &contexts.Raw{Android: json.RawMessage(`{"notification":{"title":"t"}}`)}}
	if got := send("msg-3", rawNotification); tag(got) != "msg-3" {
		t.Errorf("raw notification: tag %q, want msg-3", tag(got))
	}
	own := map[string]*contexts.Context{
		"data tag":           {ID: "ctx-3", Kind: contexts.KindData, Data: &contexts.Data{Title: "Hi", Tag: "score"}},
		"raw tag":            {ID: "ctx-4", Kind: contexts.KindRaw, Raw: &contexts.Raw{Android: json.RawMessage(`{"notification":{"title":"t"},"android":{"notification":{"tag":"score"}}}`)}},
		"raw collapse key":   {ID: "ctx-5", Kind: contexts.KindRaw, Raw: &contexts.Raw{Common: &contexts.RawCommon{Title: "t", CollapseKey: "score"}}},
		"silent (data only)": {ID: "ctx-6", Kind: contexts.KindSilent, Silent: &contexts.Silent{ExternalData: "x"}},
		"raw data only":      {ID: "ctx-7", Kind: contexts.KindRaw, Raw: &contexts.Raw{Android: json.RawMessage(`{"data":{"k":"v"}}`)}},
	}
	for name, c := range own {
		got := send("msg-own", c)
		want := "score"
		switch {
		case name == "raw collapse key":
			want = "" // FCM has the context's own key, and no tag is made up
			if got.Android.CollapseKey != "score" {
				t.Errorf("%s: collapse_key %q, want score", name, got.Android.CollapseKey)
			}
		case c.Kind == contexts.KindSilent || name == "raw data only":
			want = ""
		}
		if tag(got) != want {
			t.Errorf("%s: tag %q, want %q", name, tag(got), want)
		}
		if (c.Kind == contexts.KindSilent || name == "raw data only") && got.Android != nil && got.Android.Notification != nil {
			t.Errorf("%s: a data message got android.notification %+v", name, got.Android.Notification)
		}
	}
}

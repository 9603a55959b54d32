package apns

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/pushgate/pushgate/contexts"
)

// TestTemplateRendersAsRender: a body made from a chunk's template is the
// body rendering the message alone gives, byte for byte, whatever the
// context's kind and the ids.
func TestTemplateRendersAsRender(t *testing.T) {
	five := 5.0
	ctxs := map[string]*contexts.Context{
		"data": {ID: "ctx-data", Kind: contexts.KindData, Data: &contexts.Data{
			Title: "Sale <b>", Body: "50% off & more", Badge: &five, Tag: "sale", Image: "https://cdn.example/i.png",
			Behaviour: "https://shop.example/?a=1&b=2", Actions: []contexts.Action{{Action: "buy", Title: "Buy"}},
		}},
		"silent": {ID: "ctx-silent", Kind: contexts.KindSilent, Silent: &contexts.Silent{ExternalData: `{"k":"v"}`}},
		"raw": {ID: "ctx-raw", Kind: contexts.KindRaw, Raw: &contexts.Raw{
			IOS:    json.RawMessage(`{"aps":{"alert":"hi"},"foreignId":"theirs","zzz":1,"messageId":"x"}`),
			Common: &contexts.RawCommon{Title: "t"},
		}},
		"raw, only aps": {ID: "ctx-raw2", Kind: contexts.KindRaw, Raw: &contexts.Raw{IOS: json.RawMessage(`{"aps":{"content-available":1}}`)}},
		// Its own content holds a marker: rendered the slow way.
		"raw with a marker": {ID: "ctx-raw3", Kind: contexts.KindRaw, Raw: &contexts.Raw{IOS: json.RawMessage(`{"aps":{},"x":"\u0000m"}`)}},
	}
	ids := []identity{
		{messageID: "01JABCDEF", foreignID: "user-42"},
		{messageID: "01JABCDEG"},
		{messageID: "01JABCDEH", foreignID: `a "quoted" <tag> & é ` + "\u2028"},
	}
	for name, c := range ctxs {
		var ts templates
		for _, id := range ids {
			id.contextID = c.ID
			want, err := render(c, id, false)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			got, err := ts.render(c, id, false)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if !bytes.Equal(got.body, want.body) || got.pushType != want.pushType || got.priority != want.priority || got.collapseID != want.collapseID {
				t.Errorf("%s, %+v:\n got %s\nwant %s", name, id, got.body, want.body)
			}
		}
		if tm := ts.last.Load(); (tm == nil) != (name == "raw with a marker") {
			t.Errorf("%s: template kept %v", name, tm != nil)
		}
	}
}

package webpush

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	pushgate "github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/contexts"
	"github.com/pushgate/pushgate/providers"
	"github.com/pushgate/pushgate/recipients"
)

func TestBrowserFor(t *testing.T) {
	tests := []struct {
		endpoint string
		want     browser
	}{
		{"https://fcm.googleapis.com/fcm/send/abc", chromium},
		{"https://web.push.apple.com/QGuQ", safariVapid},
		{"https://updates.push.services.mozilla.com/wpush/v2/gAAA", firefox},
		{"https://push.services.mozaws.net/wpush/v1/x", firefox},
		{"https://wns2-par02p.notify.windows.com/w/?token=x", edge},
		{"https://WEB.PUSH.APPLE.COM./x", safariVapid},
		{"https://push.apple.com.evil.example/x", chromium},
		{"https://notmozilla.com/x", chromium},
		{"http://127.0.0.1:8080/push/x", chromium},
		{"::not a url", chromium},
	}
	for _, tt := range tests {
		if got := browserFor(tt.endpoint); got != tt.want {
			t.Errorf("browserFor(%q) = %s, want %s", tt.endpoint, got, tt.want)
		}
	}
}

// testMessage is a message of c to user-7, as delivery builds it.
func testMessage(c *contexts.Context) *providers.Message {
	return &providers.Message{ID: "m-1", ForeignID: "user-7", Context: c, Receiver: recipients.Receiver{ForeignID: "user-7"}}
}

// renderJSON renders m for b and decodes the body for comparison.
func renderJSON(t *testing.T, m *providers.Message, b browser) (map[string]any, rendering) {
	t.Helper()
	r, err := render(m, b)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	return got, r
}

func decodeJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return v
}

func dataContext() *contexts.Context {
	return &contexts.Context{ID: "ctx-1", Kind: contexts.KindData, Data: &contexts.Data{
		Title: "Sale", Body: "50% off <today>", Icon: "https://shop.example/i.png", Image: "https://shop.example/big.png",
		Badge: new(3.0), Tag: "sale", Renotify: new(true), RequireInteraction: new(false),
		Vibrate: []float64{200, 100, 200}, Lang: "pl",
		Behaviour: "https://shop.example/", BehaviourWebPush: "https://shop.example/sale",
		Actions: []contexts.Action{
			{Action: "buy", Title: "Buy", Icon: "https://shop.example/b.png", Behaviour: "https://shop.example/x", BehaviourWebPush: "https://shop.example/cart"},
			{Action: "later", Title: "Later"},
			{Action: "help", Title: "Help", Behaviour: "https://shop.example/help", BehaviourIos: "app://help"},
		},
		ExternalData: `{"order":42}`,
		// Fields other platforms read must not leak into the Web Push body.
		Subtitle: "iOS only", SmallIcon: "ic_stat", ChannelName: "sales", BadgeMobile: new(9.0), Sound: "ping", BehaviourAndroid: "app://a",
	}}
}

func TestRenderData(t *testing.T) {
	got, h := renderJSON(t, testMessage(dataContext()), chromium)
	want := decodeJSON(t, `{
		"title": "Sale", "body": "50% off <today>", "icon": "https://shop.example/i.png", "image": "https://shop.example/big.png",
		"actions": [
			{"action": "buy", "title": "Buy", "icon": "https://shop.example/b.png"},
			{"action": "later", "title": "Later"},
			{"action": "help", "title": "Help"}
		],
		"tag": "sale", "renotify": true, "requireInteraction": false, "vibrate": [200, 100, 200], "lang": "pl",
		"data": {
			"messageId": "m-1", "contextId": "ctx-1", "foreignId": "user-7",
			"actionsMap": {"default": "https://shop.example/sale", "buy": "https://shop.example/cart", "help": "https://shop.example/help"},
			"externalData": "{\"order\":42}", "badge": 3
		}
	}`)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rendered\n%v\nwant\n%v", got, want)
	}
	if h.urgency != "high" || h.topic != "sale" {
		t.Errorf("headers %+v, want Urgency high, Topic sale", h)
	}
}

func TestRenderDataMinimal(t *testing.T) {
	m := testMessage(&contexts.Context{ID: "ctx-1", Kind: contexts.KindData, Data: &contexts.Data{Title: "Hi", Tag: "not a topic!"}})
	m.ForeignID, m.Receiver.ForeignID = "", ""
	got, h := renderJSON(t, m, chromium)
	want := decodeJSON(t, `{"title": "Hi", "tag": "not a topic!", "data": {"messageId": "m-1", "contextId": "ctx-1"}}`)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rendered %v, want %v", got, want)
	}
	if h.topic != topicOf(m.ID) {
		t.Errorf("Topic %q from a tag that is not a valid topic; want the message's own %q", h.topic, topicOf(m.ID))
	}
}

func TestRenderSilent(t *testing.T) {
	got, h := renderJSON(t, testMessage(&contexts.Context{ID: "ctx-2", Kind: contexts.KindSilent, Silent: &contexts.Silent{ExternalData: "sync:inbox"}}), chromium)
	want := decodeJSON(t, `{"data": {"messageId": "m-1", "contextId": "ctx-2", "foreignId": "user-7", "externalData": "sync:inbox", "_silent": true}}`)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rendered %v, want %v", got, want)
	}
	if h.urgency != "normal" || h.topic != topicOf("m-1") {
		t.Errorf("headers %+v, want Urgency normal and the message's own Topic", h)
	}
}

func rawContext() *contexts.Context {
	return &contexts.Context{ID: "ctx-3", Kind: contexts.KindRaw, Raw: &contexts.Raw{
		Common: &contexts.RawCommon{Title: "Common title", Body: "Common body", IconURL: "https://c/icon.png", ImageURL: "https://c/image.png",
			Data: &contexts.StringOrMap{Map: map[string]string{"from": "common"}}},
		Chromium: &contexts.RawWebPush{Title: "Chromium", Badge: "https://c/badge.png", DefaultAction: "https://shop.example/chromium",
			Actions: []contexts.WebAction{{Action: "open", Title: "Open"}}, Dir: "rtl", Tag: "chromium-tag", Data: json.RawMessage(`{"n":1,"deep":{"x":true}}`)},
		Firefox:     &contexts.RawWebPush{Title: "Firefox", Body: "Firefox body", Data: json.RawMessage(`"plain string"`)},
		SafariVapid: &contexts.RawWebPush{Icon: "https://safari/icon.png"},
	}}
}

func TestRenderRawPicksSectionByBrowser(t *testing.T) {
	m := testMessage(rawContext())
	tests := []struct {
		browser browser
		want    string
	}{
		{chromium, `{"title": "Chromium", "body": "Common body", "icon": "https://c/icon.png", "image": "https://c/image.png",
			"badge": "https://c/badge.png", "actions": [{"action": "open", "title": "Open"}], "tag": "chromium-tag", "dir": "rtl",
			"data": {"messageId": "m-1", "contextId": "ctx-3", "foreignId": "user-7", "actionsMap": {"default": "https://shop.example/chromium"}, "data": {"n": 1, "deep": {"x": true}}}}`},
		{firefox, `{"title": "Firefox", "body": "Firefox body", "icon": "https://c/icon.png", "image": "https://c/image.png",
			"data": {"messageId": "m-1", "contextId": "ctx-3", "foreignId": "user-7", "data": "plain string"}}`},
		{safariVapid, `{"title": "Common title", "body": "Common body", "icon": "https://safari/icon.png", "image": "https://c/image.png",
			"data": {"messageId": "m-1", "contextId": "ctx-3", "foreignId": "user-7", "data": {"from": "common"}}}`},
	}
	for _, tt := range tests {
		got, h := renderJSON(t, m, tt.browser)
		if want := decodeJSON(t, tt.want); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: rendered\n%v\nwant\n%v", tt.browser, got, want)
		}
		if h.urgency != "high" {
			t.Errorf("%s: Urgency %q, want high", tt.browser, h.urgency)
		}
	}
	// Edge has no section: it gets chromium's.
	edgeJSON, _ := renderJSON(t, m, edge)
	chromiumJSON, _ := renderJSON(t, m, chromium)
	if !reflect.DeepEqual(edgeJSON, chromiumJSON) {
		t.Errorf("edge without a section rendered %v, want chromium's %v", edgeJSON, chromiumJSON)
	}
	_, h := renderJSON(t, m, chromium)
	if h.topic != "chromium-tag" {
		t.Errorf("Topic %q, want the chromium section's tag", h.topic)
	}
}

func TestRenderRawSectionExpiry(t *testing.T) {
	created := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	c := rawContext()
	c.CreatedAt = created
	c.Raw.Common.TTL = new(3600.0)
	c.Raw.Firefox.TTL = new(60.0)
	c.Raw.SafariVapid.ExpiresAt = "2026-03-01T12:05:00Z"
	tests := []struct {
		browser browser
		own     bool
		want    time.Time
	}{
		{firefox, true, created.Add(time.Minute)},
		{safariVapid, true, created.Add(5 * time.Minute)},
		{chromium, false, time.Time{}}, // no values of its own: the message's (common's) expiry stands
	}
	for _, tt := range tests {
		_, r := renderJSON(t, testMessage(c), tt.browser)
		if r.ownExpiry != tt.own || !r.expiresAt.Equal(tt.want) {
			t.Errorf("%s: own expiry %v at %v, want %v at %v", tt.browser, r.ownExpiry, r.expiresAt, tt.own, tt.want)
		}
	}
}

func TestRenderRawCommonOnly(t *testing.T) {
	m := testMessage(&contexts.Context{ID: "ctx-4", Kind: contexts.KindRaw, Raw: &contexts.Raw{
		Common: &contexts.RawCommon{Title: "T", Body: "B", Data: &contexts.StringOrMap{String: "s"}},
	}})
	got, _ := renderJSON(t, m, firefox)
	want := decodeJSON(t, `{"title": "T", "body": "B", "data": {"messageId": "m-1", "contextId": "ctx-4", "foreignId": "user-7", "data": "s"}}`)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rendered %v, want %v", got, want)
	}
}

func TestRenderRefusesMismatchedContext(t *testing.T) {
	if _, err := render(testMessage(&contexts.Context{ID: "c", Kind: contexts.KindData}), chromium); err == nil {
		t.Error("a data context without data rendered")
	}
}

func TestTTLSeconds(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		expiresAt time.Time
		want      int
		ok        bool
	}{
		{time.Time{}, 2419200, true},
		{now.Add(90 * time.Second), 90, true},
		{now.Add(90*time.Second + 500*time.Millisecond), 90, true},
		{now.Add(500 * time.Millisecond), 0, true},
		{now.Add(60 * 24 * time.Hour), 2419200, true},
		{now, 0, false},
		{now.Add(-time.Hour), 0, false},
	}
	for _, tt := range tests {
		got, ok := ttlSeconds(tt.expiresAt, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ttlSeconds(%v) = %d, %v; want %d, %v", tt.expiresAt, got, ok, tt.want, tt.ok)
		}
	}
}

func TestCheck(t *testing.T) {
	if err := Check(dataContext()); err != nil {
		t.Errorf("an ordinary data context refused: %v", err)
	}
	// The largest body that fits leaves room for the worst-case identity.
	fits := strings.Repeat("b", MaxPayload-len(`{"body":"","data":{"messageId":"","contextId":"","foreignId":""}}`)-36-36-255)
	if err := Check(&contexts.Context{Kind: contexts.KindData, Data: &contexts.Data{Body: fits}}); err != nil {
		t.Errorf("a body that fits exactly was refused: %v", err)
	}
	err := Check(&contexts.Context{Kind: contexts.KindData, Data: &contexts.Data{Body: fits + "b"}})
	if pushgate.ErrorCode(err) != pushgate.EINVALID || !strings.Contains(err.Error(), "data: renders to 3994 bytes") {
		t.Errorf("one byte over the limit: %v, want validation_failed naming 3994 bytes", err)
	}

	big := strings.Repeat("x", 4000)
	raw := rawContext()
	raw.Raw.Firefox.Body = big
	err = Check(raw)
	if pushgate.ErrorCode(err) != pushgate.EINVALID {
		t.Fatalf("raw context with a huge firefox section: %v, want validation_failed", err)
	}
	var pe *pushgate.Error
	if !errors.As(err, &pe) || len(pe.Fields) != 1 || !strings.HasPrefix(pe.Fields[0], "firefox: ") {
		t.Errorf("fields %v, want only the firefox section named", pe.Fields)
	}

	raw = rawContext()
	raw.Raw.Common.Body = big
	raw.Raw.Chromium.Body, raw.Raw.Firefox.Body = "short", "short"
	err = Check(raw)
	if !errors.As(err, &pe) || len(pe.Fields) != 1 || !strings.HasPrefix(pe.Fields[0], "safariVapid: ") {
		t.Errorf("common's body reaches only safariVapid, which sets none; got %v", err)
	}

	if err := Check(&contexts.Context{Kind: contexts.KindSilent, Silent: &contexts.Silent{ExternalData: big}}); pushgate.ErrorCode(err) != pushgate.EINVALID {
		t.Errorf("huge silent context: %v, want validation_failed", err)
	}
}

package apns_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/contexts"
	"github.com/pushgate/pushgate/providers"
	"github.com/pushgate/pushgate/providers/apns"
	"github.com/pushgate/pushgate/providers/providertest"
)

func TestSendDataContextWithTokenAuth(t *testing.T) {
	f, p, k := tokenProvider(t, topic)
	c := &contexts.Context{ID: "ctx-1", Kind: contexts.KindData, Data: &contexts.Data{
		Title: "Sale", Subtitle: "Today only", Body: "50% off",
		Image:        "https://cdn.example/sale.png",
		Badge:        num(1),
		BadgeMobile:  num(3),
		Sound:        "default",
		SoundIos:     "ping.caf",
		Tag:          "sale-2030",
		ExternalData: `{"campaign":7}`,
		Behaviour:    "https://shop.example/sale",
		BehaviourIos: "shop://sale",
		Actions: []contexts.Action{
			{Action: "buy", Title: "Buy", Behaviour: "https://shop.example/cart", BehaviourIos: "shop://cart"},
			{Action: "later", Title: "Later"},
			{Action: "web", Title: "Web", Behaviour: "https://shop.example/?a=1&b=2"},
		},
	}}
	m := message(t, c)
	r, body := sendOne(t, f, p, m)

	if r.DeviceToken != m.Receiver.Token || r.Topic != topic || r.PushType != "alert" || r.Priority != 10 ||
		r.CollapseID != "sale-2030" || !r.Expiration.Equal(m.ExpiresAt) || r.KeyID != k.KeyID || r.TeamID != k.TeamID {
		t.Errorf("headers: %+v", r)
	}
	want := map[string]any{
		"aps": map[string]any{
			"alert":           map[string]any{"title": "Sale", "subtitle": "Today only", "body": "50% off"},
			"badge":           3.0,
			"sound":           "ping.caf",
			"thread-id":       "sale-2030",
			"category":        "pushgate.buy.later.web",
			"mutable-content": 1.0,
		},
		"messageId":    m.ID,
		"contextId":    "ctx-1",
		"foreignId":    "user-42",
		"externalData": `{"campaign":7}`,
		"image":        "https://cdn.example/sale.png",
		"actionsMap":   map[string]any{"default": "shop://sale", "buy": "shop://cart", "web": "https://shop.example/?a=1&b=2"},
		"actions": []any{
			map[string]any{"action": "buy", "title": "Buy"},
			map[string]any{"action": "later", "title": "Later"},
			map[string]any{"action": "web", "title": "Web"},
		},
	}
	if !reflect.DeepEqual(body, want) {
		t.Errorf("payload\n got %s\nwant %s", jsonOf(t, body), jsonOf(t, want))
	}
}

func TestSendDataContextVariants(t *testing.T) {
	f, p, _ := tokenProvider(t, topic)
	tests := []struct {
		name  string
		data  contexts.Data
		check func(t *testing.T, r providertest.APNSRequest, body map[string]any)
	}{
		{"badge when there is no badgeMobile", contexts.Data{Title: "a", Badge: num(5)}, func(t *testing.T, _ providertest.APNSRequest, body map[string]any) {
			if got := body["aps"].(map[string]any)["badge"]; got != 5.0 {
				t.Errorf("badge %v, want 5", got)
			}
		}},
		{"badgeMobile 0 clears the badge", contexts.Data{Title: "a", Badge: num(5), BadgeMobile: num(0)}, func(t *testing.T, _ providertest.APNSRequest, body map[string]any) {
			if got, ok := body["aps"].(map[string]any)["badge"]; !ok || got != 0.0 {
				t.Errorf("badge %v (present %v), want 0", got, ok)
			}
		}},
		{"plain notification", contexts.Data{Title: "a", Body: "b", Sound: "default"}, func(t *testing.T, r providertest.APNSRequest, body map[string]any) {
			want := map[string]any{"alert": map[string]any{"title": "a", "body": "b"}, "sound": "default"}
			if !reflect.DeepEqual(body["aps"], want) {
				t.Errorf("aps %v, want %v", body["aps"], want)
			}
			for _, k := range []string{"image", "actionsMap", "actions", "externalData"} {
				if _, ok := body[k]; ok {
					t.Errorf("%s present though the context has none", k)
				}
			}
			if r.CollapseID != body["messageId"] {
				t.Errorf("collapse id %q without a tag, want the message id %v", r.CollapseID, body["messageId"])
			}
		}},
		{"click URL without actions", contexts.Data{Title: "a", Behaviour: "https://x.example/"}, func(t *testing.T, _ providertest.APNSRequest, body map[string]any) {
			if got := body["actionsMap"]; !reflect.DeepEqual(got, map[string]any{"default": "https://x.example/"}) {
				t.Errorf("actionsMap %v", got)
			}
			if _, ok := body["aps"].(map[string]any)["category"]; ok {
				t.Error("category without actions")
			}
		}},
		{"tag too long for a collapse id", contexts.Data{Title: "a", Tag: strings.Repeat("t", 65)}, func(t *testing.T, r providertest.APNSRequest, body map[string]any) {
			if r.CollapseID != body["messageId"] {
				t.Errorf("collapse id %q, want the message id %v for a 65-byte tag Apple would refuse", r.CollapseID, body["messageId"])
			}
			if got := body["aps"].(map[string]any)["thread-id"]; got != strings.Repeat("t", 65) {
				t.Errorf("thread-id %v, want the tag", got)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := message(t, &contexts.Context{ID: "ctx", Kind: contexts.KindData, Data: &tt.data})
			r, body := sendOne(t, f, p, m)
			tt.check(t, r, body)
		})
	}
}

func TestSendSilentContext(t *testing.T) {
	f, p, _ := tokenProvider(t, topic)
	m := message(t, &contexts.Context{ID: "ctx-s", Kind: contexts.KindSilent, Silent: &contexts.Silent{ExternalData: "sync"}})
	m.ExpiresAt = time.Time{}
	r, body := sendOne(t, f, p, m)
	want := map[string]any{
		"aps":       map[string]any{"content-available": 1.0},
		"messageId": m.ID, "contextId": "ctx-s", "foreignId": "user-42", "externalData": "sync",
	}
	if !reflect.DeepEqual(body, want) {
		t.Errorf("payload\n got %s\nwant %s", jsonOf(t, body), jsonOf(t, want))
	}
	if r.PushType != "background" || r.Priority != 5 {
		t.Errorf("push type %q priority %d, want background 5", r.PushType, r.Priority)
	}
	if want := clock.Add(28 * 24 * time.Hour); !r.Expiration.Equal(want) {
		t.Errorf("expiration %v, want 28 days after now (%v) for a message without expiry", r.Expiration, want)
	}
}

func rawContext() *contexts.Context {
	return &contexts.Context{ID: "ctx-r", Kind: contexts.KindRaw, Raw: &contexts.Raw{
		Common: &contexts.RawCommon{
			Title: "Common title", Body: "Common body", CollapseKey: "news",
			Data: &contexts.StringOrMap{Map: map[string]string{"deeplink": "app://news", "screen": "common"}},
		},
		IOS:    json.RawMessage(`{"aps":{"sound":"chime.caf","badge":2},"screen":"ios","messageId":"forged"}`),
		Safari: json.RawMessage(`{"aps":{"alert":{"title":"Safari"},"url-args":["news"]}}`),
	}}
}

func TestSendRawContextIOS(t *testing.T) {
	f, p, _ := tokenProvider(t, topic)
	m := message(t, rawContext())
	r, body := sendOne(t, f, p, m)
	want := map[string]any{
		"aps": map[string]any{
			"sound": "chime.caf", "badge": 2.0,
			"alert": map[string]any{"title": "Common title", "body": "Common body"},
		},
		"screen":    "ios",
		"deeplink":  "app://news",
		"messageId": m.ID, "contextId": "ctx-r", "foreignId": "user-42",
	}
	if !reflect.DeepEqual(body, want) {
		t.Errorf("payload\n got %s\nwant %s", jsonOf(t, body), jsonOf(t, want))
	}
	if r.PushType != "alert" || r.Priority != 10 || r.CollapseID != "news" {
		t.Errorf("push type %q priority %d collapse id %q, want alert 10 news", r.PushType, r.Priority, r.CollapseID)
	}
}

func TestSendRawContextSafari(t *testing.T) {
	f, p, _ := tokenProvider(t, "web.com.example.shop")
	m := message(t, rawContext())
	r, body := sendOne(t, f, p, m)
	aps := body["aps"].(map[string]any)
	if !reflect.DeepEqual(aps["alert"], map[string]any{"title": "Safari"}) || !reflect.DeepEqual(aps["url-args"], []any{"news"}) {
		t.Errorf("aps %v, want the safari section's, its own alert kept", aps)
	}
	if body["screen"] != "common" || body["messageId"] != m.ID {
		t.Errorf("payload %v, want common data and the identity added", body)
	}
	if r.Topic != "web.com.example.shop" {
		t.Errorf("topic %q", r.Topic)
	}
}

func TestSendRawBackground(t *testing.T) {
	f, p, _ := tokenProvider(t, topic)
	c := &contexts.Context{ID: "ctx", Kind: contexts.KindRaw, Raw: &contexts.Raw{IOS: json.RawMessage(`{"aps":{"content-available":1},"sync":true}`)}}
	r, body := sendOne(t, f, p, message(t, c))
	if r.PushType != "background" || r.Priority != 5 {
		t.Errorf("push type %q priority %d, want background 5 for a content-available-only payload", r.PushType, r.Priority)
	}
	if body["sync"] != true {
		t.Errorf("payload %v lost the section's keys", body)
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name  string
		mc    *contexts.Context
		field string // "" when the context must pass
	}{
		{"small data", &contexts.Context{Kind: contexts.KindData, Data: &contexts.Data{Title: "t", Body: "b"}}, ""},
		{"huge data", &contexts.Context{Kind: contexts.KindData, Data: &contexts.Data{Body: strings.Repeat("b", 5000)}}, "context"},
		// About 3850 bytes with everyday ids: only the worst case is too large.
		{"data too large only with the longest ids", &contexts.Context{Kind: contexts.KindData, Data: &contexts.Data{Body: strings.Repeat("b", 3750)}}, "context"},
		{"silent", &contexts.Context{Kind: contexts.KindSilent, Silent: &contexts.Silent{ExternalData: "x"}}, ""},
		{"huge silent", &contexts.Context{Kind: contexts.KindSilent, Silent: &contexts.Silent{ExternalData: strings.Repeat("x", 4000)}}, "context"},
		{"raw fitting", rawContext(), ""},
		{"raw with huge safari section", &contexts.Context{Kind: contexts.KindRaw, Raw: &contexts.Raw{
			IOS:    json.RawMessage(`{"aps":{"alert":"hi"}}`),
			Safari: json.RawMessage(`{"aps":{"alert":"` + strings.Repeat("s", 4100) + `"}}`),
		}}, "safari"},
		{"raw filled from a huge common", &contexts.Context{Kind: contexts.KindRaw, Raw: &contexts.Raw{
			Common: &contexts.RawCommon{Body: strings.Repeat("c", 4100)},
		}}, "ios"},
		{"raw ios not an object", &contexts.Context{Kind: contexts.KindRaw, Raw: &contexts.Raw{IOS: json.RawMessage(`"hello"`)}}, "ios"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := apns.Check(tt.mc)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var pe *pushgate.Error
			if !errors.As(err, &pe) || pe.Code != pushgate.EINVALID {
				t.Fatalf("got %v, want a validation error", err)
			}
			if len(pe.Fields) != 1 || !strings.HasPrefix(pe.Fields[0], tt.field+": ") {
				t.Errorf("fields %q, want one about %s", pe.Fields, tt.field)
			}
		})
	}
}

func TestCheckAgreesWithSend(t *testing.T) {
	// A context Check accepts must render within Apple's limit for any
	// message: send it with the longest identity and see the fake accept it.
	_, p, _ := tokenProvider(t, topic)
	body := 4096
	var c *contexts.Context
	for ; body > 0; body -= 10 {
		c = &contexts.Context{ID: pushgate.NewID(), Kind: contexts.KindData, Data: &contexts.Data{Title: "t", Body: strings.Repeat("b", body), Tag: "x"}}
		if apns.Check(c) == nil {
			break
		}
	}
	m := message(t, c)
	m.ForeignID = strings.Repeat("f", 255)
	if err := p.Send(context.Background(), m); err != nil {
		t.Fatalf("a context Check accepted (body of %d bytes) was refused: %v", body, err)
	}
	m.ForeignID += strings.Repeat("f", 20)
	if o := providers.Classify(p.Send(context.Background(), m)); o == nil || o.Reason != providers.ReasonPayloadTooLarge {
		t.Errorf("the largest context Check accepts, with a foreignId over the limit, gave %v; want payload_too_large", o)
	}
}

package fcm

import (
	"encoding/json"
	"maps"
	"net/http"
	"testing"
	"time"

	"github.com/pushgate/pushgate/contexts"
	"github.com/pushgate/pushgate/internal/fuzzcheck"
	"github.com/pushgate/pushgate/providers"
)

func TestActionsMap(t *testing.T) {
	tests := []struct {
		name string
		d    contexts.Data
		want map[string]string // nil: actionsMap omitted
	}{
		{"nothing to open", contexts.Data{Actions: []contexts.Action{{Action: "a", Title: "A"}}}, nil},
		{"behaviour", contexts.Data{Behaviour: "https://w.example/"}, map[string]string{"default": "https://w.example/"}},
		{"android override", contexts.Data{Behaviour: "https://w.example/", BehaviourAndroid: "app://open", BehaviourIos: "ios://x"},
			map[string]string{"default": "app://open"}},
		{"actions", contexts.Data{Actions: []contexts.Action{
			{Action: "buy", Behaviour: "https://w.example/buy", BehaviourAndroid: "app://buy"},
			{Action: "web", Behaviour: "https://w.example/web", BehaviourWebPush: "https://push.example/"},
			{Action: "", Behaviour: "https://w.example/no-id"},
			{Action: "none"},
		}}, map[string]string{"buy": "app://buy", "web": "https://w.example/web"}},
		{"an action called default", contexts.Data{Behaviour: "https://w.example/click",
			Actions: []contexts.Action{{Action: "default", Behaviour: "https://w.example/button"}}},
			map[string]string{"default": "https://w.example/click"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := actionsMap(&tt.d)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == nil {
				if s != "" {
					t.Errorf("actionsMap = %s, want it omitted", s)
				}
				return
			}
			var got map[string]string
			if err := json.Unmarshal([]byte(s), &got); err != nil || !maps.Equal(got, tt.want) {
				t.Errorf("actionsMap = %s (%v), want %v", s, err, tt.want)
			}
		})
	}
}

func TestTTLAt(t *testing.T) {
	now := time.Date(2030, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		expiresAt time.Time
		want      time.Duration
		ok        bool
	}{
		{"no expiry", time.Time{}, 28 * 24 * time.Hour, true},
		{"an hour", now.Add(time.Hour), time.Hour, true},
		{"fraction dropped", now.Add(90*time.Second + 700*time.Millisecond), 90 * time.Second, true},
		{"beyond FCM's maximum", now.Add(60 * 24 * time.Hour), 28 * 24 * time.Hour, true},
		{"expired", now.Add(-time.Millisecond), 0, false},
		{"expiring now", now, 0, false},
	}
	for _, tt := range tests {
		got, ok := ttlAt(tt.expiresAt, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s: ttlAt = %v %v, want %v %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2030, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := map[string]time.Duration{
		"":                  0,
		"30":                30 * time.Second,
		" 5 ":               5 * time.Second,
		"0":                 0,
		"-3":                0,
		"soon":              0,
		"99999999999999999": 0,
		now.Add(2 * time.Minute).Format(http.TimeFormat):  2 * time.Minute,
		now.Add(-2 * time.Minute).Format(http.TimeFormat): 0,
	}
	for in, want := range tests {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestInvalidArgumentReason(t *testing.T) {
	tests := map[string]providers.Reason{
		"The registration token is not a valid FCM registration token": providers.ReasonInvalidToken,
		"Android message is too big":                                   providers.ReasonPayloadTooLarge,
		"Invalid value at 'message.data[0].value' (TYPE_STRING), 1":    providers.ReasonInvalidPayload,
		"Request contains an invalid argument.":                        providers.ReasonInvalidPayload,
	}
	for msg, want := range tests {
		if got := invalidArgumentReason(msg); got != want {
			t.Errorf("%q: %s, want %s", msg, got, want)
		}
	}
}

// FuzzBuildRaw feeds arbitrary android sections to the raw renderer: it
// must never panic, and whatever it accepts must carry the identity and
// pass the SDK's checks.
func FuzzBuildRaw(f *testing.F) {
	f.Add(`{"notification":{"title":"t"},"data":{"k":"v"},"android":{"ttl":"60s","priority":"normal"}}`, "common title")
	f.Add(`{"android":{"data":{"a":"b"},"notification":{"color":"#ffffff","notification_count":3}}}`, "")
	f.Add(`{"android":{"ttl":"1.5s","notification":{"event_time":"2030-01-01T00:00:00.000000000Z"}}}`, "x")
	f.Add(`null`, "t")
	f.Add(`{"data":{"n":1}}`, "")
	f.Add(`{"priority":"high"}`, "")
	f.Add(`{"android":{"priority":5,"ttl":[]},"notification":"x"}`, "")
	f.Fuzz(func(t *testing.T, android, title string) {
		c := &contexts.Context{ID: "ctx", Kind: contexts.KindRaw, Raw: &contexts.Raw{
			Common:  &contexts.RawCommon{Title: title, CollapseKey: "ck"},
			Android: json.RawMessage(android),
		}}
		msg, err := build(c, identity{messageID: "m", contextID: "ctx"}, "tok", time.Hour)
		if err != nil {
			// It reaches the client as the problem of the android field.
			if s := fuzzcheck.GoSpelling(err.Error()); s != "" {
				t.Fatalf("problem %q shows Go's %q", err, s)
			}
			return
		}
		if msg.Data["messageId"] != "m" || msg.Data["contextId"] != "ctx" {
			t.Fatalf("data %v lacks the identity", msg.Data)
		}
		if a := msg.Android; a.Data != nil && a.Data["messageId"] != "m" {
			t.Fatalf("android.data %v lacks the identity", a.Data)
		}
		if msg.Android.TTL == nil || *msg.Android.TTL > time.Hour || *msg.Android.TTL < 0 {
			t.Fatalf("ttl %v outside [0, 1h]", msg.Android.TTL)
		}
		if _, err := json.Marshal(msg); err != nil {
			t.Fatalf("the rendered message does not encode: %v", err)
		}
	})
}

package contexts_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/contexts"
)

// q quotes s as a JSON string.
func q(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// actions returns n valid data actions as JSON.
func actions(n int) string {
	var a []string
	for i := range n {
		a = append(a, fmt.Sprintf(`{"action": "a%d", "title": "A%d"}`, i, i))
	}
	return "[" + strings.Join(a, ", ") + "]"
}

func numbers(n int, v string) string {
	return "[" + strings.TrimSuffix(strings.Repeat(v+",", n), ",") + "]"
}

const rawSections = "a raw context needs at least one of common, chromium, edge, firefox, safariVapid, huawei, ios, safari and android"

type refusal struct {
	name string
	kind contexts.Kind
	body string
	want []string // nil: the body is valid
}

var (
	long250  = strings.Repeat("é", 250) // 500 bytes, 250 characters
	long4000 = strings.Repeat("ż", 4000)
	url2049  = "https://shop.example/" + strings.Repeat("a", 2049-len("https://shop.example/"))
)

func dataCases() []refusal {
	d := func(name, extra string, want ...string) refusal {
		return refusal{name, contexts.KindData, `{"title": "t", ` + extra + `}`, want}
	}
	return []refusal{
		{"empty", contexts.KindData, `{}`, []string{"title: a data context needs a title or a body"}},
		{"blank title", contexts.KindData, `{"title": "  ", "body": "\n"}`, []string{"title: a data context needs a title or a body"}},
		{"body only", contexts.KindData, `{"body": "b"}`, nil},
		d("title at limit", `"subtitle": "s"`+`, "title": `+q(long250)),
		d("title too long", `"title": `+q(long250+"x"), "title: must be at most 250 characters"),
		d("body at limit", `"body": `+q(long4000)),
		d("body too long", `"body": `+q(long4000+"x"), "body: must be at most 4000 characters"),
		d("subtitle too long", `"subtitle": `+q(long250+"x"), "subtitle: must be at most 250 characters"),
		d("icon relative", `"icon": "/icon.png"`, "icon: must be an absolute http(s) URL"),
		d("icon ftp", `"icon": "ftp://shop.example/icon.png"`, "icon: must be an absolute http(s) URL"),
		d("icon without host", `"icon": "https:///icon.png"`, "icon: must be an absolute http(s) URL"),
		d("icon too long", `"icon": `+q(url2049), "icon: must be at most 2048 bytes"),
		d("icon upper-case scheme", `"icon": "HTTPS://shop.example/i.png"`),
		d("smallIcon resource", `"smallIcon": "ic_stat_Shop2"`),
		d("smallIcon URL", `"smallIcon": "https://shop.example/small.png"`),
		d("smallIcon path", `"smallIcon": "res/ic-shop.png"`, "smallIcon: must be an Android drawable name (letters, digits and _) or an absolute http(s) URL"),
		d("image javascript", `"image": "javascript:alert(1)"`, "image: must be an absolute http(s) URL"),
		d("channelName too long", `"channelName": `+q(strings.Repeat("c", 256)), "channelName: must be at most 255 bytes"),
		d("badge bounds", `"badge": 0, "badgeMobile": 99999`),
		d("badge negative", `"badge": -1`, "badge: must be a whole number between 0 and 99999"),
		d("badge fraction", `"badge": 1.5`, "badge: must be a whole number between 0 and 99999"),
		d("badgeMobile too big", `"badgeMobile": 100000`, "badgeMobile: must be a whole number between 0 and 99999"),
		d("3 actions", `"actions": `+actions(3)),
		d("4 actions", `"actions": `+actions(4), "actions: must have at most 3 entries"),
		d("action title too long", `"actions": [{"action": "a", "title": "A"}, {"action": "b", "title": "B"}, {"action": "c", "title": `+q(strings.Repeat("x", 101))+`}]`,
			"actions[2].title: must be at most 100 characters"),
		d("action without id and title", `"actions": [{"icon": "https://shop.example/i.png"}]`,
			"actions[0].action: is required", "actions[0].title: is required"),
		d("action id default", `"actions": [{"action": "default", "title": "Open"}]`,
			`actions[0].action: must not be "default", which actionsMap keeps for the notification's own click`),
		d("action id repeated", `"actions": [{"action": "a", "title": "A"}, {"action": "b", "title": "B"}, {"action": "a", "title": "C"}]`,
			"actions[2].action: must be unique, but the action at index 0 has it too"),
		d("action id too long", `"actions": [{"action": `+q(strings.Repeat("a", 65))+`, "title": "A"}]`, "actions[0].action: must be at most 64 bytes"),
		d("action icon", `"actions": [{"action": "a", "title": "A", "icon": "cart.png"}]`, "actions[0].icon: must be an absolute http(s) URL"),
		d("action behaviours", `"actions": [{"action": "a", "title": "A", "behaviour": "javascript:alert(1)", "behaviourAndroid": "data:text/html,x", "behaviourHuawei": "/x", "behaviourIos": "myapp://ok", "behaviourWebPush": "vbscript:x"}]`,
			"actions[0].behaviour: must not be a javascript: URI",
			"actions[0].behaviourAndroid: must not be a data: URI",
			"actions[0].behaviourHuawei: must be an absolute URI, such as https://example.com/ or myapp://open",
			"actions[0].behaviourWebPush: must not be a vbscript: URI"),
		d("behaviour deep links", `"behaviour": "https://shop.example/", "behaviourAndroid": "myapp://product/1", "behaviourIos": "myapp:product", "behaviourHuawei": "tel:+48123456789", "behaviourWebPush": "mailto:shop@example.com"`),
		d("behaviour javascript any case", `"behaviour": "JavaScript:alert(1)"`, "behaviour: must not be a javascript: URI"),
		d("behaviour leading space", `"behaviour": " javascript:alert(1)"`, "behaviour: must be an absolute URI, such as https://example.com/ or myapp://open"),
		d("behaviour file", `"behaviourAndroid": "file:///etc/passwd"`, "behaviourAndroid: must not be a file: URI"),
		d("behaviour relative", `"behaviourIos": "sale"`, "behaviourIos: must be an absolute URI, such as https://example.com/ or myapp://open"),
		d("behaviour http without host", `"behaviourWebPush": "https:/sale"`, "behaviourWebPush: must be an absolute http(s) URL"),
		d("behaviour control character", `"behaviourHuawei": "myapp://x\ny"`, "behaviourHuawei: must be an absolute URI, such as https://example.com/ or myapp://open"),
		d("behaviour too long", `"behaviour": `+q(url2049), "behaviour: must be at most 2048 bytes"),
		d("expiresAt offset", `"expiresAt": "2025-07-01T12:00:00+02:00"`),
		d("expiresAt at limit", `"expiresAt": "2025-07-29T00:00:00Z"`),
		d("expiresAt not RFC 3339", `"expiresAt": "2025-07-05 08:19:58"`, "expiresAt: must be an RFC 3339 time such as 2025-07-05T08:19:58Z"),
		d("expiresAt date only", `"expiresAt": "2025-07-05"`, "expiresAt: must be an RFC 3339 time such as 2025-07-05T08:19:58Z"),
		d("expiresAt past", `"expiresAt": "2025-06-30T23:59:59Z"`, "expiresAt: must be in the future"),
		d("expiresAt now", `"expiresAt": "2025-07-01T00:00:00Z"`, "expiresAt: must be in the future"),
		d("expiresAt too far", `"expiresAt": "2025-07-29T00:00:01Z"`, "expiresAt: must be at most 28 days from now"),
		d("ttl bounds", `"ttl": 0`),
		d("ttl max", `"ttl": 2419200`),
		d("ttl negative", `"ttl": -1`, "ttl: must be a whole number of seconds between 0 and 2419200"),
		d("ttl fraction", `"ttl": 1.5`, "ttl: must be a whole number of seconds between 0 and 2419200"),
		d("ttl too long", `"ttl": 2419201`, "ttl: must be a whole number of seconds between 0 and 2419200"),
		d("lang tags", `"lang": "zh-Hant-TW"`),
		d("lang underscore", `"lang": "en_US"`, "lang: must be a BCP 47 language tag such as en or pt-BR"),
		d("lang one letter", `"lang": "e"`, "lang: must be a BCP 47 language tag such as en or pt-BR"),
		d("lang empty subtag", `"lang": "en-"`, "lang: must be a BCP 47 language tag such as en or pt-BR"),
		d("lang digit first", `"lang": "1en"`, "lang: must be a BCP 47 language tag such as en or pt-BR"),
		d("lang long subtag", `"lang": "en-abcdefghi"`, "lang: must be a BCP 47 language tag such as en or pt-BR"),
		d("tag at limit", `"tag": `+q(strings.Repeat("t", 64))),
		d("tag too long", `"tag": `+q(strings.Repeat("t", 65)), "tag: must be at most 64 bytes"),
		d("externalData too long", `"externalData": `+q(strings.Repeat("x", 4097)), "externalData: must be at most 4096 bytes"),
		d("vibrate at limit", `"vibrate": `+numbers(32, "10000")),
		d("vibrate too many", `"vibrate": `+numbers(33, "100"), "vibrate: must have at most 32 entries"),
		d("vibrate entries", `"vibrate": [100, -1, 10001, 1.5]`,
			"vibrate[1]: must be a whole number of milliseconds between 0 and 10000",
			"vibrate[2]: must be a whole number of milliseconds between 0 and 10000",
			"vibrate[3]: must be a whole number of milliseconds between 0 and 10000"),
		d("sounds too long", `"sound": `+q(strings.Repeat("s", 256))+`, "soundIos": `+q(strings.Repeat("s", 256))+`, "soundAndroid": `+q(strings.Repeat("s", 256)),
			"sound: must be at most 255 bytes", "soundIos: must be at most 255 bytes", "soundAndroid: must be at most 255 bytes"),
	}
}

func rawCases() []refusal {
	r := func(name, body string, want ...string) refusal {
		return refusal{name, contexts.KindRaw, body, want}
	}
	return []refusal{
		r("no section", `{}`, "body: "+rawSections),
		r("null sections", `{"common": null, "ios": null, "chromium": null}`, "body: "+rawSections),
		r("empty ios section", `{"ios": {}}`),
		r("common only", `{"common": {"title": "t"}}`),
		r("common strings", `{"common": {"title": `+q(long250+"x")+`, "body": `+q(long4000+"x")+`, "collapseKey": `+q(strings.Repeat("k", 65))+`}}`,
			"common.title: must be at most 250 characters", "common.body: must be at most 4000 characters", "common.collapseKey: must be at most 64 bytes"),
		r("common data string", `{"common": {"data": "order-1234"}}`),
		r("common data too big", `{"common": {"data": `+q(strings.Repeat("d", 4095))+`}}`, "common.data: must be at most 4096 bytes of JSON"),
		r("common data escaped size", `{"common": {"data": {"html": `+q(strings.Repeat("<", 700))+`}}}`, "common.data: must be at most 4096 bytes of JSON"),
		r("common URLs", `{"common": {"iconUrl": "icon.png", "imageUrl": "data:image/png;base64,AAAA"}}`,
			"common.iconUrl: must be an absolute http(s) URL", "common.imageUrl: must be an absolute http(s) URL"),
		r("common expiry", `{"common": {"ttl": 2419201, "expiresAt": "2025-06-01T00:00:00Z"}}`,
			"common.expiresAt: must be in the future", "common.ttl: must be a whole number of seconds between 0 and 2419200"),
		r("web strings", `{"chromium": {"title": `+q(long250+"x")+`, "body": `+q(long4000+"x")+`, "tag": `+q(strings.Repeat("t", 65))+`}}`,
			"chromium.title: must be at most 250 characters", "chromium.body: must be at most 4000 characters", "chromium.tag: must be at most 64 bytes"),
		r("web URLs", `{"edge": {"badge": "badge.png", "image": "//cdn.example/i.png", "icon": "ftp://x/y"}}`,
			"edge.badge: must be an absolute http(s) URL", "edge.image: must be an absolute http(s) URL", "edge.icon: must be an absolute http(s) URL"),
		r("web actions at limit", `{"chromium": {"actions": `+actions(2)+`}}`),
		r("web too many actions", `{"chromium": {"actions": `+actions(3)+`}}`, "chromium.actions: must have at most 2 entries"),
		r("web action fields", `{"firefox": {"actions": [{"action": "a"}, {"title": "B", "icon": "b.png"}]}}`,
			"firefox.actions[0].title: is required", "firefox.actions[1].action: is required", "firefox.actions[1].icon: must be an absolute http(s) URL"),
		r("web action ids", `{"safariVapid": {"actions": [{"action": "default", "title": "A"}, {"action": "b", "title": `+q(strings.Repeat("x", 101))+`}]}}`,
			`safariVapid.actions[0].action: must not be "default", which actionsMap keeps for the notification's own click`,
			"safariVapid.actions[1].title: must be at most 100 characters"),
		r("web data array", `{"firefox": {"data": [1, 2]}}`, "firefox.data: must be a string or an object"),
		r("web data number", `{"edge": {"data": 5}}`, "edge.data: must be a string or an object"),
		r("web data any values", `{"chromium": {"data": {"n": 1, "nested": {"ok": [true, null]}}}}`),
		r("web data too big", `{"chromium": {"data": {"d": `+q(strings.Repeat("d", 4090))+`}}}`, "chromium.data: must be at most 4096 bytes of JSON"),
		r("web defaultAction", `{"safariVapid": {"defaultAction": "javascript:alert(1)"}}`, "safariVapid.defaultAction: must not be a javascript: URI"),
		r("web dir", `{"chromium": {"dir": "up"}}`, "chromium.dir: must be auto, ltr or rtl"),
		r("web dir case", `{"edge": {"dir": "RTL"}}`, "edge.dir: must be auto, ltr or rtl"),
		r("web lang", `{"firefox": {"lang": "english"}}`),
		r("web lang bad", `{"firefox": {"lang": "en US"}}`, "firefox.lang: must be a BCP 47 language tag such as en or pt-BR"),
		r("web expiry", `{"chromium": {"ttl": -5, "expiresAt": "soon"}}`,
			"chromium.expiresAt: must be an RFC 3339 time such as 2025-07-05T08:19:58Z", "chromium.ttl: must be a whole number of seconds between 0 and 2419200"),
		r("web vibrate", `{"edge": {"vibrate": [0, 20000]}}`, "edge.vibrate[1]: must be a whole number of milliseconds between 0 and 10000"),
		r("web vibrate too many", `{"edge": {"vibrate": `+numbers(33, "1")+`}}`, "edge.vibrate: must have at most 32 entries"),
		r("huawei bounds", `{"huawei": {"collapseKey": 100, "fastAppTarget": 1, "ttl": 0}}`),
		r("huawei numbers", `{"huawei": {"collapseKey": 101, "fastAppTarget": 3, "ttl": 0.5}}`,
			"huawei.collapseKey: must be a whole number between -1 and 100", "huawei.fastAppTarget: must be 1 (development) or 2 (production)",
			"huawei.ttl: must be a whole number of seconds between 0 and 2419200"),
		r("huawei collapseKey fraction", `{"huawei": {"collapseKey": -0.5}}`, "huawei.collapseKey: must be a whole number between -1 and 100"),
		r("huawei strings", `{"huawei": {"notification": "x", "biTag": `+q(strings.Repeat("b", 256))+`, "data": `+q(strings.Repeat("d", 4097))+`, "receiptId": `+q(strings.Repeat("r", 256))+`, "expiresAt": "2026-01-01T00:00:00Z"}}`,
			"huawei.notification: must be an object", "huawei.biTag: must be at most 255 bytes", "huawei.data: must be at most 4096 bytes",
			"huawei.receiptId: must be at most 255 bytes", "huawei.expiresAt: must be at most 28 days from now"),
		r("ios string", `{"ios": "x"}`, "ios: must be an object"),
		r("ios array", `{"ios": []}`, "ios: must be an object"),
		r("ios aps", `{"ios": {"aps": "alert"}}`, "ios.aps: must be an object"),
		r("ios aps null", `{"ios": {"aps": null}}`, "ios.aps: must be an object"),
		r("safari aps", `{"safari": {"aps": []}}`, "safari.aps: must be an object"),
		r("safari without aps", `{"safari": {"custom": 1}}`),
		r("android number", `{"android": 5}`, "android: must be an object"),
		r("android fields", `{"android": {"notification": [], "android": "high", "data": {"a": "1", "b": 2, "c.d": {}}}}`,
			"android.notification: must be an object", "android.android: must be an object",
			"android.data.b: must be a string", `android.data["c.d"]: must be a string`),
		r("android data string", `{"android": {"data": "x"}}`, "android.data: must be an object of strings"),
	}
}

func silentCases() []refusal {
	return []refusal{
		{"empty", contexts.KindSilent, `{}`, nil},
		{"everything", contexts.KindSilent, `{"externalData": "x", "ttl": 60, "expiresAt": "2025-07-02T00:00:00Z"}`, nil},
		{"externalData", contexts.KindSilent, `{"externalData": ` + q(strings.Repeat("x", 4097)) + `}`, []string{"externalData: must be at most 4096 bytes"}},
		{"ttl", contexts.KindSilent, `{"ttl": 2419201}`, []string{"ttl: must be a whole number of seconds between 0 and 2419200"}},
		{"expiresAt", contexts.KindSilent, `{"expiresAt": "2025-06-01T00:00:00Z"}`, []string{"expiresAt: must be in the future"}},
		// A silent context has no alert, so none of the data fields apply;
		// they are unknown fields and ignored.
		{"data fields ignored", contexts.KindSilent, `{"title": 5, "actions": "x"}`, nil},
	}
}

func TestParseRules(t *testing.T) {
	cases := slices.Concat(dataCases(), rawCases(), silentCases())
	for _, tc := range cases {
		t.Run(string(tc.kind)+"/"+tc.name, func(t *testing.T) {
			c, err := contexts.Parse(tc.kind, []byte(tc.body), now)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused a valid body: %v", err)
				}
				if c.Kind != tc.kind {
					t.Fatalf("kind = %s", c.Kind)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if got := fields(t, err); !slices.Equal(got, tc.want) {
				t.Errorf("fields:\n got %q\nwant %q", got, tc.want)
			}
			if msg := pushgate.ErrorMessage(err); msg != "invalid "+string(tc.kind)+" context" {
				t.Errorf("message = %q", msg)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    *contexts.Context
		want []string
	}{
		{"data", &contexts.Context{Kind: contexts.KindData, Data: &contexts.Data{Title: "t"}}, nil},
		{"silent", &contexts.Context{Kind: contexts.KindSilent, Silent: &contexts.Silent{}}, nil},
		{"raw", &contexts.Context{Kind: contexts.KindRaw, Raw: &contexts.Raw{IOS: json.RawMessage(`{"aps":{}}`)}}, nil},
		{"unknown kind", &contexts.Context{Kind: "push", Data: &contexts.Data{Title: "t"}}, []string{`kind: must be data, raw or silent, not "push"`}},
		{"payload of another kind", &contexts.Context{Kind: contexts.KindData, Silent: &contexts.Silent{}},
			[]string{"kind: exactly one of Data, Raw and Silent must be set, matching kind data"}},
		{"two payloads", &contexts.Context{Kind: contexts.KindData, Data: &contexts.Data{Title: "t"}, Silent: &contexts.Silent{}},
			[]string{"kind: exactly one of Data, Raw and Silent must be set, matching kind data"}},
		{"data rules", &contexts.Context{Kind: contexts.KindData, Data: &contexts.Data{Badge: ptr(-1.0)}},
			[]string{"title: a data context needs a title or a body", "badge: must be a whole number between 0 and 99999"}},
		{"empty raw", &contexts.Context{Kind: contexts.KindRaw, Raw: &contexts.Raw{}}, []string{"context: " + rawSections}},
		{"malformed raw JSON", &contexts.Context{Kind: contexts.KindRaw, Raw: &contexts.Raw{
			IOS:      json.RawMessage(`{"aps":`),
			Chromium: &contexts.RawWebPush{Data: json.RawMessage(`{"a"`)},
			Huawei:   &contexts.RawHuawei{Notification: json.RawMessage(`{`)},
		}}, []string{"chromium.data: must be a string or an object", "huawei.notification: must be an object", "ios: must be an object"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.Validate(now)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if got := fields(t, err); !slices.Equal(got, tc.want) {
				t.Errorf("fields:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

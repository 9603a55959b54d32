package contexts_test

import (
	"encoding/json"
	"errors"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/contexts"
)

// now is the clock every test parses against; testdata's expiresAt values
// lie a few days after it.
var now = time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ptr[T any](v T) *T { return &v }

// fields returns the field problems of a Parse error, failing the test if
// err is not an EINVALID *pushgate.Error.
func fields(t *testing.T, err error) []string {
	t.Helper()
	var pe *pushgate.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *pushgate.Error", err, err)
	}
	if pe.Code != pushgate.EINVALID {
		t.Fatalf("code = %q, want %q", pe.Code, pushgate.EINVALID)
	}
	return pe.Fields
}

func TestParseFullData(t *testing.T) {
	c, err := contexts.Parse(contexts.KindData, readFile(t, "data_full.json"), now)
	if err != nil {
		t.Fatal(err)
	}
	if c.Kind != contexts.KindData || c.Raw != nil || c.Silent != nil || !c.CreatedAt.Equal(now) || c.ID != "" {
		t.Fatalf("context = %+v", c)
	}
	want := &contexts.Data{
		Title:       "Summer sale",
		Body:        "Everything at half price until Sunday.",
		Subtitle:    "Today only",
		Icon:        "https://shop.example/icon-192.png",
		SmallIcon:   "ic_stat_shop",
		Image:       "https://shop.example/banner.jpg",
		ChannelName: "promotions",
		Badge:       ptr(3.0),
		BadgeMobile: ptr(7.0),
		Actions: []contexts.Action{
			{
				Action:           "buy",
				Title:            "Buy now",
				Icon:             "https://shop.example/cart.png",
				Behaviour:        "https://shop.example/cart",
				BehaviourAndroid: "shop://cart",
				BehaviourHuawei:  "shop://cart?src=hms",
				BehaviourIos:     "shop://cart?src=ios",
				BehaviourWebPush: "https://shop.example/cart?src=web",
			},
			{Action: "later", Title: "Remind me later"},
			{Action: "mute", Title: "Mute", Behaviour: "https://shop.example/settings"},
		},
		Behaviour:          "https://shop.example/sale",
		BehaviourAndroid:   "shop://sale",
		BehaviourHuawei:    "shop://sale?src=hms",
		BehaviourIos:       "shop://sale?src=ios",
		BehaviourWebPush:   "https://shop.example/sale?src=web",
		ExpiresAt:          "2025-07-05T08:19:58.715Z",
		TTL:                ptr(86400.0),
		Lang:               "pl-PL",
		Renotify:           ptr(true),
		RequireInteraction: ptr(false),
		Silent:             ptr(false),
		Tag:                "sale-2025",
		ExternalData:       `{"campaign":42}`,
		Vibrate:            []float64{200, 100, 200},
		Sound:              "default",
		SoundIos:           "chime.caf",
		SoundAndroid:       "chime",
	}
	if !reflect.DeepEqual(c.Data, want) {
		t.Errorf("data =\n%+v\nwant\n%+v", c.Data, want)
	}
}

// TestParseMatchesEncodingJSON decodes every valid testdata body with
// encoding/json too: for well-typed bodies with exact keys, Parse must
// decode exactly what the standard decoder does.
func TestParseMatchesEncodingJSON(t *testing.T) {
	for _, tc := range []struct {
		file string
		kind contexts.Kind
		got  func(*contexts.Context) any
		want any
	}{
		{"data_full.json", contexts.KindData, func(c *contexts.Context) any { return c.Data }, &contexts.Data{}},
		{"raw_full.json", contexts.KindRaw, func(c *contexts.Context) any { return c.Raw }, &contexts.Raw{}},
		{"silent.json", contexts.KindSilent, func(c *contexts.Context) any { return c.Silent }, &contexts.Silent{}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			body := readFile(t, tc.file)
			c, err := contexts.Parse(tc.kind, body, now)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(body, tc.want); err != nil {
				t.Fatal(err)
			}
			if got := tc.got(c); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Parse decoded\n%+v\nencoding/json decoded\n%+v", got, tc.want)
			}
		})
	}
}

func TestParseFullRaw(t *testing.T) {
	c, err := contexts.Parse(contexts.KindRaw, readFile(t, "raw_full.json"), now)
	if err != nil {
		t.Fatal(err)
	}
	r := c.Raw
	if c.Kind != contexts.KindRaw || c.Data != nil || c.Silent != nil {
		t.Fatalf("context = %+v", c)
	}
	if got := r.Common.Data.Map; !reflect.DeepEqual(got, map[string]string{"orderId": "1234", "status": "shipped"}) {
		t.Errorf("common.data = %v", got)
	}
	// CORE lets a web section's data hold any JSON values; they are kept.
	if got := string(r.Chromium.Data); got != `{"orderId": 1234, "items": ["a", "b"]}` {
		t.Errorf("chromium.data = %s", got)
	}
	if got := string(r.Edge.Data); got != `"order-1234"` {
		t.Errorf("edge.data = %s", got)
	}
	if len(r.Chromium.Actions) != 2 || r.Chromium.Actions[0].Icon != "https://shop.example/track.png" {
		t.Errorf("chromium.actions = %+v", r.Chromium.Actions)
	}
	if r.Firefox.Dir != "rtl" || r.SafariVapid.DefaultAction != "https://shop.example/orders/1234" {
		t.Errorf("firefox = %+v, safariVapid = %+v", r.Firefox, r.SafariVapid)
	}
	if *r.Huawei.CollapseKey != -1 || *r.Huawei.FastAppTarget != 2 || string(r.Huawei.Notification) != `{"title": "Shipped", "body": "It arrives tomorrow."}` {
		t.Errorf("huawei = %+v", r.Huawei)
	}
	// Vendor payloads are kept byte for byte.
	if !strings.HasPrefix(string(r.IOS), `{"aps": {"alert"`) || !strings.Contains(string(r.Safari), `"url-args"`) ||
		!strings.Contains(string(r.Android), `"channel_id": "orders"`) {
		t.Errorf("ios = %s\nsafari = %s\nandroid = %s", r.IOS, r.Safari, r.Android)
	}
}

func TestParseSilent(t *testing.T) {
	for _, body := range []string{`{}`, string(readFile(t, "silent.json")), `{"externalData": null}`} {
		c, err := contexts.Parse(contexts.KindSilent, []byte(body), now)
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if c.Kind != contexts.KindSilent || c.Silent == nil || c.Data != nil || c.Raw != nil {
			t.Fatalf("%s: context = %+v", body, c)
		}
	}
}

// TestTestdataCoversEveryField keeps the full bodies full: a field added to
// the types without a sample in testdata fails here. A field of a type used
// in several places (the four web sections) counts once.
func TestTestdataCoversEveryField(t *testing.T) {
	for _, tc := range []struct {
		file string
		typ  reflect.Type
	}{
		{"data_full.json", reflect.TypeFor[contexts.Data]()},
		{"raw_full.json", reflect.TypeFor[contexts.Raw]()},
		{"silent.json", reflect.TypeFor[contexts.Silent]()},
	} {
		var body any
		if err := json.Unmarshal(readFile(t, tc.file), &body); err != nil {
			t.Fatal(err)
		}
		all, seen := map[string]bool{}, map[string]bool{}
		walkFields(tc.typ, body, all, seen)
		for _, f := range slices.Sorted(maps.Keys(all)) {
			if !seen[f] {
				t.Errorf("%s: no sample of %s", tc.file, f)
			}
		}
	}
}

// walkFields records in all every "Type.field" reachable from t, and in
// seen those that v, a decoded JSON value of type t, has.
func walkFields(t reflect.Type, v any, all, seen map[string]bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == reflect.TypeFor[json.RawMessage](), t == reflect.TypeFor[contexts.StringOrMap]():
	case t.Kind() == reflect.Slice:
		items, _ := v.([]any)
		walkFields(t.Elem(), nil, all, seen)
		for _, item := range items {
			walkFields(t.Elem(), item, all, seen)
		}
	case t.Kind() == reflect.Struct:
		obj, _ := v.(map[string]any)
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			f := t.Name() + "." + name
			all[f] = true
			fv, ok := obj[name]
			seen[f] = seen[f] || ok
			walkFields(t.Field(i).Type, fv, all, seen)
		}
	}
}

func TestParseIgnoresUnknownAndNull(t *testing.T) {
	body := `{"title": "t", "badge": null, "actions": null, "vibrate": null, "future": [1, {"x": 2}], "Body": 5}`
	c, err := contexts.Parse(contexts.KindData, []byte(body), now)
	if err != nil {
		t.Fatal(err)
	}
	if c.Data.Badge != nil || c.Data.Actions != nil || c.Data.Body != "" {
		t.Errorf("data = %+v", c.Data)
	}
	// Keys match exactly, as CORE's do: "Title" is an unknown field.
	_, err = contexts.Parse(contexts.KindData, []byte(`{"Title": "t"}`), now)
	if got := fields(t, err); !slices.Equal(got, []string{"title: a data context needs a title or a body"}) {
		t.Errorf("fields = %q", got)
	}
}

func TestParseBody(t *testing.T) {
	for _, tc := range []struct {
		body string
		want string // the one field problem, or its prefix when it ends with "..."
	}{
		{``, "body: is not valid JSON: ..."},
		{`{`, "body: is not valid JSON: ..."},
		{`{"title": "t"} x`, "body: is not valid JSON: ..."},
		{`{"title": 'x'}`, "body: is not valid JSON: invalid character '\\'' looking for beginning of value (at byte 11)"},
		{`[]`, "body: must be a JSON object, got array"},
		{`"title"`, "body: must be a JSON object, got string"},
		{`42`, "body: must be a JSON object, got number"},
		{`null`, "body: must be a JSON object, got null"},
		{` true `, "body: must be a JSON object, got boolean"},
	} {
		for _, kind := range []contexts.Kind{contexts.KindData, contexts.KindRaw, contexts.KindSilent} {
			c, err := contexts.Parse(kind, []byte(tc.body), now)
			if c != nil {
				t.Errorf("%s %q: got a context", kind, tc.body)
			}
			got := fields(t, err)
			if len(got) != 1 || !matches(got[0], tc.want) {
				t.Errorf("%s %q: fields = %q, want %q", kind, tc.body, got, tc.want)
			}
		}
	}
}

func matches(got, want string) bool {
	if prefix, ok := strings.CutSuffix(want, "..."); ok {
		return strings.HasPrefix(got, prefix)
	}
	return got == want
}

func TestParseUnknownKind(t *testing.T) {
	_, err := contexts.Parse("push", []byte(`{}`), now)
	if got := fields(t, err); !slices.Equal(got, []string{`kind: must be data, raw or silent, not "push"`}) {
		t.Errorf("fields = %q", got)
	}
}

func TestParseTypeErrors(t *testing.T) {
	for _, tc := range []struct {
		kind contexts.Kind
		body string
		want []string
	}{
		{contexts.KindData, `{"title": 5}`, []string{"title: expected string, got number"}},
		{contexts.KindData, `{"title": "t", "badge": "3"}`, []string{"badge: expected number, got string"}},
		{contexts.KindData, `{"title": "t", "renotify": "yes"}`, []string{"renotify: expected boolean, got string"}},
		{contexts.KindData, `{"title": "t", "actions": {}}`, []string{"actions: expected array, got object"}},
		{contexts.KindData, `{"title": "t", "actions": [{"action": "a", "title": "A"}, {}, "x"]}`, []string{"actions[2]: expected object, got string"}},
		{contexts.KindData, `{"title": "t", "actions": [{"action": "a"}, {"action": "b", "title": 5}]}`, []string{"actions[1].title: expected string, got number"}},
		{contexts.KindData, `{"title": "t", "vibrate": [1, "2", null, []]}`, []string{"vibrate[1]: expected number, got string", "vibrate[3]: expected number, got array"}},
		{contexts.KindData, `{"title": "t", "ttl": 1e999}`, []string{"ttl: number is out of range"}},
		// Only type errors are reported: "needs a title or a body" would be
		// about the zero values the bad fields left.
		{contexts.KindData, `{"title": 1, "body": [2]}`, []string{"title: expected string, got number", "body: expected string, got array"}},
		{contexts.KindRaw, `{"common": []}`, []string{"common: expected object, got array"}},
		{contexts.KindRaw, `{"common": {"ttl": "60"}}`, []string{"common.ttl: expected number, got string"}},
		{contexts.KindRaw, `{"common": {"data": {"a": "x", "b": 1, "c d": true}}}`, []string{"common.data.b: expected string, got number", `common.data["c d"]: expected string, got boolean`}},
		{contexts.KindRaw, `{"common": {"data": ["a"]}}`, []string{"common.data: must be a string or an object of strings"}},
		{contexts.KindRaw, `{"common": {"data": 5}}`, []string{"common.data: must be a string or an object of strings"}},
		{contexts.KindRaw, `{"chromium": {"actions": [{"action": "a", "title": "A", "icon": true}]}}`, []string{"chromium.actions[0].icon: expected string, got boolean"}},
		{contexts.KindRaw, `{"edge": {"vibrate": {}}}`, []string{"edge.vibrate: expected array, got object"}},
		{contexts.KindRaw, `{"huawei": {"collapseKey": "1"}}`, []string{"huawei.collapseKey: expected number, got string"}},
		{contexts.KindRaw, `{"huawei": {"data": {"a": "b"}}}`, []string{"huawei.data: expected string, got object"}},
		{contexts.KindSilent, `{"ttl": "60"}`, []string{"ttl: expected number, got string"}},
		{contexts.KindSilent, `{"externalData": {"a": 1}}`, []string{"externalData: expected string, got object"}},
	} {
		_, err := contexts.Parse(tc.kind, []byte(tc.body), now)
		if err == nil {
			t.Errorf("%s %s: no error", tc.kind, tc.body)
			continue
		}
		if got := fields(t, err); !slices.Equal(got, tc.want) {
			t.Errorf("%s %s:\nfields = %q\nwant     %q", tc.kind, tc.body, got, tc.want)
		}
	}
}

func TestStringOrMap(t *testing.T) {
	for _, tc := range []struct {
		json string
		want contexts.StringOrMap
		ok   bool
	}{
		{`"order-1234"`, contexts.StringOrMap{String: "order-1234"}, true},
		{`{"a": "b"}`, contexts.StringOrMap{Map: map[string]string{"a": "b"}}, true},
		{`{}`, contexts.StringOrMap{Map: map[string]string{}}, true},
		{`["a"]`, contexts.StringOrMap{}, false},
		{`5`, contexts.StringOrMap{}, false},
		{`{"a": 1}`, contexts.StringOrMap{}, false},
	} {
		var got contexts.StringOrMap
		err := json.Unmarshal([]byte(tc.json), &got)
		if (err == nil) != tc.ok {
			t.Errorf("Unmarshal(%s): err = %v", tc.json, err)
		}
		if tc.ok && !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Unmarshal(%s) = %+v, want %+v", tc.json, got, tc.want)
		}

		// Parse must agree with UnmarshalJSON.
		body := `{"common": {"data": ` + tc.json + `}}`
		c, err := contexts.Parse(contexts.KindRaw, []byte(body), now)
		if (err == nil) != tc.ok {
			t.Errorf("Parse(%s): err = %v", body, err)
		}
		if tc.ok && !reflect.DeepEqual(*c.Raw.Common.Data, tc.want) {
			t.Errorf("Parse(%s): data = %+v, want %+v", body, *c.Raw.Common.Data, tc.want)
		}
		if tc.ok {
			b, err := json.Marshal(c.Raw.Common.Data)
			if err != nil {
				t.Fatal(err)
			}
			var back contexts.StringOrMap
			if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, tc.want) {
				t.Errorf("round trip of %s through %s = %+v, %v", tc.json, b, back, err)
			}
		}
	}
	if !(contexts.StringOrMap{}).IsZero() || (contexts.StringOrMap{String: "x"}).IsZero() {
		t.Error("IsZero is wrong")
	}
}

func TestParseMetadata(t *testing.T) {
	for _, tc := range []struct {
		kind     contexts.Kind
		metadata string
		want     []string // nil: valid
	}{
		{contexts.KindData, `{"title": "t"}`, nil},
		{contexts.KindData, string(readFile(t, "data_full.json")), nil},
		{contexts.KindRaw, string(readFile(t, "raw_full.json")), nil},
		{contexts.KindRaw, `{"ios": {"aps": {"alert": "hi"}}}`, nil},
		{contexts.KindSilent, ``, nil},
		{contexts.KindSilent, ` null `, nil},
		{contexts.KindSilent, `{}`, nil},
		{contexts.KindSilent, `{"externalData": "x", "ttl": 60}`, nil},
		{contexts.KindData, ``, []string{"metadata: is required"}},
		{contexts.KindData, `null`, []string{"metadata: is required"}},
		{contexts.KindRaw, ``, []string{"metadata: is required"}},
		{contexts.KindData, `[]`, []string{"metadata: must be a JSON object, got array"}},
		{contexts.KindSilent, `"x"`, []string{"metadata: must be a JSON object, got string"}},
		{contexts.KindData, `{}`, []string{"metadata.title: a data context needs a title or a body"}},
		{contexts.KindData, `{"title": 5}`, []string{"metadata.title: expected string, got number"}},
		{contexts.KindData, `{"title": "t", "actions": [{"title": "x"}]}`, []string{"metadata.actions[0].action: is required"}},
		{contexts.KindRaw, `{}`, []string{"metadata: a raw context needs at least one of common, chromium, edge, firefox, safariVapid, huawei, ios, safari and android"}},
		{contexts.KindRaw, `{"chromium": {"dir": "up"}}`, []string{"metadata.chromium.dir: must be auto, ltr or rtl"}},
		{contexts.KindSilent, `{"ttl": -1}`, []string{"metadata.ttl: must be a whole number of seconds between 0 and 2419200"}},
	} {
		c, err := contexts.ParseMetadata(tc.kind, json.RawMessage(tc.metadata), now)
		if tc.want == nil {
			if err != nil {
				t.Errorf("%s %s: %v", tc.kind, tc.metadata, err)
			} else if c.Kind != tc.kind || c.ID != "" {
				t.Errorf("%s %s: context = %+v", tc.kind, tc.metadata, c)
			} else if tc.kind == contexts.KindSilent && c.Silent == nil {
				t.Errorf("%s %s: no silent payload", tc.kind, tc.metadata)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s %s: no error", tc.kind, tc.metadata)
			continue
		}
		if got := fields(t, err); !slices.Equal(got, tc.want) {
			t.Errorf("%s %s:\nfields = %q\nwant     %q", tc.kind, tc.metadata, got, tc.want)
		}
		if msg := pushgate.ErrorMessage(err); msg != "invalid metadata" {
			t.Errorf("%s %s: message = %q", tc.kind, tc.metadata, msg)
		}
	}
}

// TestParseRoundTrip checks that what is stored (Body) parses back to the
// same thing, so a stored context can be re-read with Parse.
func TestParseRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		file string
		kind contexts.Kind
	}{{"data_full.json", contexts.KindData}, {"raw_full.json", contexts.KindRaw}, {"silent.json", contexts.KindSilent}} {
		c, err := contexts.Parse(tc.kind, readFile(t, tc.file), now)
		if err != nil {
			t.Fatal(err)
		}
		b, err := c.Body()
		if err != nil {
			t.Fatal(err)
		}
		c2, err := contexts.Parse(tc.kind, b, now)
		if err != nil {
			t.Fatalf("%s: stored body %s: %v", tc.file, b, err)
		}
		b2, _ := c2.Body()
		if string(b) != string(b2) {
			t.Errorf("%s: body changed on re-parse:\n%s\n%s", tc.file, b, b2)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	for _, tc := range []struct {
		file string
		kind contexts.Kind
	}{{"data_full.json", contexts.KindData}, {"raw_full.json", contexts.KindRaw}, {"silent.json", contexts.KindSilent}} {
		body := readFile(b, tc.file)
		b.Run(tc.file, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := contexts.Parse(tc.kind, body, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

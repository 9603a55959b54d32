package httpapi_test

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/pushgate/pushgate/buckets"
	"github.com/pushgate/pushgate/contexts"
	"github.com/pushgate/pushgate/recipients"
	"github.com/pushgate/pushgate/webhooks"
)

// These tests keep openapi.yaml's schemas honest where it is cheap: what
// the server takes, the schema takes, and the other way round, at the
// bounds. Clients are generated from the schemas (.ci/clients), so a bound
// the schema gets wrong is a request a typed client refuses to build or one
// the server refuses after the client built it.

func schema(t *testing.T, doc *openapi3.T, name string) *openapi3.Schema {
	t.Helper()
	ref := doc.Components.Schemas[name]
	if ref == nil || ref.Value == nil {
		t.Fatalf("openapi.yaml has no schema %s", name)
	}
	return ref.Value
}

func decodeJSON(t *testing.T, body string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	return v
}

// Every operation has a 4xx answer, and every 4xx answer is the Error
// schema: generated clients then decode every refusal into one type.
func TestSpecEveryOperationAnswersErrors(t *testing.T) {
	doc, _ := loadSpec(t)
	errSchema := schema(t, doc, "Error")
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			n := 0
			for code, res := range op.Responses.Map() {
				if !strings.HasPrefix(code, "4") {
					continue
				}
				n++
				switch {
				case path == "/socket.io/{path}" && code == "400":
					continue // Engine.IO's own error answer, as Socket.IO clients expect it
				case method == "HEAD":
					continue // no body
				}
				mt := res.Value.Content.Get("application/json")
				if mt == nil || mt.Schema == nil || mt.Schema.Value != errSchema {
					t.Errorf("%s %s: answer %s is not the Error schema", method, path, code)
				}
			}
			if n == 0 {
				t.Errorf("%s %s: no 4xx answer", method, path)
			}
		}
	}
}

// contextNow is the clock the context samples are parsed against (their
// expiresAt values lie a few days after it).
var contextNow = time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)

// The contexts package's full samples, which between them set every field
// the server reads, are valid by the schemas.
func TestSpecContextSchemasTakeFullSamples(t *testing.T) {
	doc, _ := loadSpec(t)
	for _, tc := range []struct {
		file, schema string
		kind         contexts.Kind
	}{
		{"data_full.json", "DataContext", contexts.KindData},
		{"raw_full.json", "RawContext", contexts.KindRaw},
		{"silent.json", "SilentContext", contexts.KindSilent},
	} {
		body, err := os.ReadFile("../contexts/testdata/" + tc.file)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := contexts.Parse(tc.kind, body, contextNow); err != nil {
			t.Fatalf("%s: the server refuses its own sample: %v", tc.file, err)
		}
		if err := schema(t, doc, tc.schema).VisitJSON(decodeJSON(t, string(body))); err != nil {
			t.Errorf("%s is not a valid %s: %v", tc.file, tc.schema, err)
		}
	}
}

// Every field the server reads from a context has a property in the
// schema, at every depth.
func TestSpecContextSchemasNameEveryField(t *testing.T) {
	doc, _ := loadSpec(t)
	for name, typ := range map[string]reflect.Type{
		"DataContext":   reflect.TypeFor[contexts.Data](),
		"RawContext":    reflect.TypeFor[contexts.Raw](),
		"SilentContext": reflect.TypeFor[contexts.Silent](),
	} {
		checkFields(t, name, typ, schema(t, doc, name))
	}
}

func checkFields(t *testing.T, path string, typ reflect.Type, s *openapi3.Schema) {
	t.Helper()
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		p := s.Properties[name]
		if p == nil {
			t.Errorf("%s: no property %s", path, name)
			continue
		}
		ft := typ.Field(i).Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		sub := p.Value
		if ft.Kind() == reflect.Slice && sub.Items != nil {
			ft, sub = ft.Elem(), sub.Items.Value
		}
		if ft.Kind() == reflect.Struct && ft != reflect.TypeFor[contexts.StringOrMap]() {
			checkFields(t, path+"."+name, ft, sub)
		}
	}
}

// contextCases are bodies at and past the server's bounds.
var contextCases = []struct {
	kind contexts.Kind
	body string
	ok   bool
}{
	{contexts.KindData, `{"title":"t","ttl":0}`, true},
	{contexts.KindData, `{"title":"t","ttl":2419200}`, true},
	{contexts.KindData, `{"title":"t","ttl":2419201}`, false},
	{contexts.KindData, `{"title":"t","ttl":-1}`, false},
	{contexts.KindData, `{"title":"t","ttl":1.5}`, false},
	{contexts.KindData, `{"title":"t","badge":0,"badgeMobile":99999}`, true},
	{contexts.KindData, `{"title":"t","badge":100000}`, false},
	{contexts.KindData, `{"title":"t","badgeMobile":-1}`, false},
	{contexts.KindData, `{"title":"t","badge":2.5}`, false},
	{contexts.KindData, `{"title":"t","vibrate":[0,10000]}`, true},
	{contexts.KindData, `{"title":"t","vibrate":[10001]}`, false},
	{contexts.KindData, `{"title":"t","vibrate":[1.5]}`, false},
	{contexts.KindData, `{"title":"t","vibrate":[` + strings.Repeat("1,", 31) + `1]}`, true},
	{contexts.KindData, `{"title":"t","vibrate":[` + strings.Repeat("1,", 32) + `1]}`, false},
	{contexts.KindData, `{"title":"t","actions":[{"action":"a","title":"A"},{"action":"b","title":"B"},{"action":"c","title":"C"}]}`, true},
	{contexts.KindData, `{"title":"t","actions":[{"action":"a","title":"A"},{"action":"b","title":"B"},{"action":"c","title":"C"},{"action":"d","title":"D"}]}`, false},
	{contexts.KindData, `{"title":"t","actions":[{"action":"default","title":"A"}]}`, false},
	{contexts.KindData, `{"title":"t","actions":[{"title":"A"}]}`, false},
	{contexts.KindData, `{"title":"` + strings.Repeat("é", 250) + `"}`, true},
	{contexts.KindData, `{"title":"` + strings.Repeat("é", 251) + `"}`, false},
	{contexts.KindData, `{"body":"` + strings.Repeat("b", 4001) + `"}`, false},
	{contexts.KindData, `{"title":"t","lang":"pt-BR"}`, true},
	{contexts.KindData, `{"title":"t","lang":"p"}`, false},
	{contexts.KindSilent, `{"ttl":2419200}`, true},
	{contexts.KindSilent, `{"ttl":2419201}`, false},
	{contexts.KindSilent, `{"externalData":"` + strings.Repeat("x", 4097) + `"}`, false},
	{contexts.KindRaw, `{}`, false},
	{contexts.KindRaw, `{"huawei":{"collapseKey":-1,"fastAppTarget":2,"ttl":2419200}}`, true},
	{contexts.KindRaw, `{"huawei":{"collapseKey":100}}`, true},
	{contexts.KindRaw, `{"huawei":{"collapseKey":101}}`, false},
	{contexts.KindRaw, `{"huawei":{"collapseKey":-2}}`, false},
	{contexts.KindRaw, `{"huawei":{"collapseKey":1.5}}`, false},
	{contexts.KindRaw, `{"huawei":{"fastAppTarget":3}}`, false},
	{contexts.KindRaw, `{"chromium":{"ttl":2.5}}`, false},
	{contexts.KindRaw, `{"firefox":{"dir":"rtl","vibrate":[10000]}}`, true},
	{contexts.KindRaw, `{"edge":{"dir":"up"}}`, false},
	{contexts.KindRaw, `{"safariVapid":{"actions":[{"action":"a","title":"A"},{"action":"b","title":"B"},{"action":"c","title":"C"}]}}`, false},
	{contexts.KindRaw, `{"common":{"data":{"k":"v"},"ttl":60}}`, true},
	{contexts.KindRaw, `{"common":{"data":{"k":1}}}`, false},
	{contexts.KindRaw, `{"android":{"data":{"k":"v"}},"ios":{"aps":{"alert":"hi"}}}`, true},
	{contexts.KindRaw, `{"android":{"data":{"k":1}}}`, false},
	{contexts.KindRaw, `{"ios":{"aps":"hi"}}`, false},
}

// The schemas and the server accept and refuse the same contexts at the
// bounds: whole numbers, ranges, counts and lengths.
func TestSpecContextBoundsMatchServer(t *testing.T) {
	doc, _ := loadSpec(t)
	names := map[contexts.Kind]string{contexts.KindData: "DataContext", contexts.KindRaw: "RawContext", contexts.KindSilent: "SilentContext"}
	for _, tc := range contextCases {
		_, err := contexts.Parse(tc.kind, []byte(tc.body), time.Now())
		if got := err == nil; got != tc.ok {
			t.Errorf("server, %s %.80s: accepted %v, want %v (%v)", tc.kind, tc.body, got, tc.ok, err)
		}
		err = schema(t, doc, names[tc.kind]).VisitJSON(decodeJSON(t, tc.body))
		if got := err == nil; got != tc.ok {
			t.Errorf("openapi.yaml, %s %.80s: valid %v, want %v (%v)", names[tc.kind], tc.body, got, tc.ok, err)
		}
	}
}

// The credential types of the spec are exactly the server's, each with
// its own schema under the discriminator, and fcm_legacy is not one.
func TestSpecCredentialTypesMatchServer(t *testing.T) {
	doc, _ := loadSpec(t)
	server := []string{string(buckets.APNSToken), string(buckets.APNSCert), string(buckets.FCMv1),
		string(buckets.HMS), string(buckets.VAPID), string(buckets.WebSocket)}
	for _, s := range server {
		if !buckets.CredentialType(s).Valid() {
			t.Fatalf("%s is no credential type", s)
		}
	}
	var enum []string
	for _, v := range schema(t, doc, "CredentialType").Enum {
		enum = append(enum, fmt.Sprint(v))
	}
	sort.Strings(enum)
	sort.Strings(server)
	if !slices.Equal(enum, server) {
		t.Errorf("CredentialType is %v, the server's types are %v", enum, server)
	}
	cred := schema(t, doc, "Credential")
	if cred.Discriminator == nil || cred.Discriminator.PropertyName != "type" {
		t.Fatal("Credential has no discriminator on type")
	}
	var mapped []string
	for typ, ref := range cred.Discriminator.Mapping {
		mapped = append(mapped, typ)
		name := ref.Ref[strings.LastIndex(ref.Ref, "/")+1:]
		typeEnum := schema(t, doc, name).Properties["type"].Value.Enum
		if len(typeEnum) != 1 || typeEnum[0] != typ {
			t.Errorf("%s's type is %v, want only %s", name, typeEnum, typ)
		}
	}
	sort.Strings(mapped)
	if !slices.Equal(mapped, server) {
		t.Errorf("Credential's discriminator maps %v, the server's types are %v", mapped, server)
	}
	legacy := decodeJSON(t, `{"type":"fcm_legacy","payload":{"serverKey":"x"}}`)
	if cred.VisitJSON(legacy) == nil {
		t.Error("Credential takes fcm_legacy, which the server refuses")
	}
}

// Receivers at the bounds, by their credential's type and the schema of
// that type's receiver.
func TestSpecReceiverBoundsMatchServer(t *testing.T) {
	doc, _ := loadSpec(t)
	hex64 := strings.Repeat("ab", 32)
	p256dh := "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
	for _, tc := range []struct {
		schema string
		typ    buckets.CredentialType
		body   string
		ok     bool
	}{
		{"ApnsReceiver", buckets.APNSToken, `{"credentialId":"c","token":"` + hex64 + `"}`, true},
		{"ApnsReceiver", buckets.APNSCert, `{"credentialId":"c","token":"` + hex64[:63] + `"}`, false},
		{"ApnsReceiver", buckets.APNSToken, `{"credentialId":"c","token":"` + strings.Repeat("a", 201) + `"}`, false},
		{"ApnsReceiver", buckets.APNSToken, `{"credentialId":"c","token":"` + strings.Repeat("g", 64) + `"}`, false},
		{"ApnsReceiver", buckets.APNSToken, `{"credentialId":"c","token":"` + hex64 + `","foreignId":"` + strings.Repeat("f", 256) + `"}`, false},
		{"FcmReceiver", buckets.FCMv1, `{"credentialId":"c","token":"dGVz:APA91b-x_y.z"}`, true},
		{"FcmReceiver", buckets.FCMv1, `{"credentialId":"c","token":"a b"}`, false},
		{"FcmReceiver", buckets.FCMv1, `{"credentialId":"c","token":""}`, false},
		{"HmsReceiver", buckets.HMS, `{"credentialId":"c","token":"IQAAAACy0+/=x","type":"hms/android","project":"p-1"}`, true},
		{"HmsReceiver", buckets.HMS, `{"credentialId":"c","token":"IQ","type":"fcm"}`, false},
		{"HmsReceiver", buckets.HMS, `{"credentialId":"c","token":"` + strings.Repeat("a", 513) + `"}`, false},
		{"WebPushReceiver", buckets.VAPID, `{"credentialId":"c","endpoint":"https://push.example.com/x","p256dh":"` + p256dh + `","auth":"AAAAAAAAAAAAAAAAAAAAAA"}`, true},
		{"WebPushReceiver", buckets.VAPID, `{"credentialId":"c","endpoint":"https://push.example.com/x","p256dh":"` + p256dh + `","auth":"AAAA"}`, false},
		{"WebSocketReceiver", buckets.WebSocket, `{"credentialId":"c","userId":"` + strings.Repeat("ü", 200) + `"}`, true},
		{"WebSocketReceiver", buckets.WebSocket, `{"credentialId":"c","userId":"` + strings.Repeat("u", 201) + `"}`, false},
		{"WebSocketReceiver", buckets.WebSocket, `{"credentialId":"c","userId":""}`, false},
	} {
		var r recipients.Receiver
		if err := json.Unmarshal([]byte(tc.body), &r); err != nil {
			t.Fatal(err)
		}
		errs := recipients.Validate(r, &buckets.Credential{ID: "c", Type: tc.typ}, recipients.Options{})
		if got := len(errs) == 0; got != tc.ok {
			t.Errorf("server, %s %.80s: accepted %v, want %v (%q)", tc.typ, tc.body, got, tc.ok, errs)
		}
		err := schema(t, doc, tc.schema).VisitJSON(decodeJSON(t, tc.body))
		if got := err == nil; got != tc.ok {
			t.Errorf("openapi.yaml, %s %.80s: valid %v, want %v (%v)", tc.schema, tc.body, got, tc.ok, err)
		}
	}
}

// A callback body as the webhooks package renders it, with an event of
// every kind, is a WebhookPayload, and the schema refuses a kind the
// package does not send.
func TestSpecWebhookPayloadMatchesBody(t *testing.T) {
	doc, _ := loadSpec(t)
	at := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	var events []webhooks.Event
	for _, k := range []webhooks.Kind{webhooks.Sent, webhooks.Failed, webhooks.Delivered, webhooks.Clicked, webhooks.Close} {
		events = append(events, webhooks.Event{MessageID: "01a23ed9-9b7e-7f7b-a0c3-195bb6d0147d", ForeignID: "f", Kind: k,
			Reason: "unregistered", Action: "buy", At: at})
	}
	body, err := webhooks.Body(events)
	if err != nil {
		t.Fatal(err)
	}
	payload := schema(t, doc, "WebhookPayload")
	if err := payload.VisitJSON(decodeJSON(t, string(body))); err != nil {
		t.Errorf("%s is not a WebhookPayload: %v", body, err)
	}
	other := strings.Replace(string(body), `"kind":"close"`, `"kind":"closed"`, 1)
	if payload.VisitJSON(decodeJSON(t, other)) == nil {
		t.Error("WebhookPayload takes kind closed, which the server never sends")
	}
}

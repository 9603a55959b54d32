package httpapi

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/pushgate/pushgate/internal/fuzzcheck"
	"github.com/pushgate/pushgate/recipients"
)

// The request bodies decodeJSON reads, one per handler that calls it.
var jsonTargets = []func() any{
	func() any { return new(clientEventBody) },
	func() any {
		return new(struct {
			Receiver json.RawMessage `json:"receiver"`
			Metadata json.RawMessage `json:"metadata"`
		})
	},
	func() any {
		return new(struct {
			Receivers []json.RawMessage `json:"receivers"`
		})
	},
	func() any {
		return new(struct {
			Name string `json:"name"`
		})
	},
	// Shapes no handler has yet, so the messages for them are right too.
	func() any {
		return new(struct {
			N     int               `json:"n"`
			F     float64           `json:"f"`
			B     bool              `json:"b"`
			M     map[string]string `json:"m"`
			Inner struct {
				S []string `json:"s"`
			} `json:"inner"`
		})
	},
}

// FuzzDecodeJSON feeds request bodies to decodeJSON's decoder for each
// shape a handler reads. A refusal is EINVALID naming the body or the
// field, in JSON's words rather than Go's; an accepted body is one JSON
// value that decodes to the same thing again once re-encoded.
// Seeds: testdata/fuzz/FuzzDecodeJSON (CORE's documented bodies) and below.
func FuzzDecodeJSON(f *testing.F) {
	for target := range jsonTargets {
		for _, body := range []string{
			`{"messageId":"0190a0b1-7c3e-7d2a-9c1b-2f4e5a6b7c8d","foreignId":"user-1","action":"buy"}`,
			`{"receiver":{"credentialId":"c","token":"t"},"metadata":{"title":"Hi"}}`,
			`{"receivers":[{"credentialId":"c","token":"t"},5]}`,
			`{"name":"ci"}`,
			`{"n":1e3,"f":1e400,"b":"true","m":{"a":1},"inner":{"s":[1]}}`,
			`{"messageId":5}`, `{"receivers":{}}`, `{"name":["x"]}`, `{"inner":[]}`, `{"n":1.5}`,
			`{} {}`, `{}]`, `{"a":`, `[]`, `null`, ``, ` `, `"\ud800"`, "{\"name\":\"a\x00b\"}",
		} {
			f.Add(uint8(target), []byte(body))
		}
	}
	f.Fuzz(func(t *testing.T, target uint8, body []byte) {
		newTarget := jsonTargets[int(target)%len(jsonTargets)]
		v := newTarget()
		err := decodeJSONBytes(body, v)
		if err != nil {
			if s := fuzzcheck.Refused(err); s != "" {
				t.Fatal(s)
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("accepted %q, which is not one JSON value", body)
		}
		again, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		// Compared encoded: a json.RawMessage left empty comes back "null".
		w := newTarget()
		if err := decodeJSONBytes(again, w); err != nil {
			t.Fatalf("%s decoded to %+v, re-encoded as %s, which is refused: %v", body, v, again, err)
		}
		if twice, _ := json.Marshal(w); !bytes.Equal(twice, again) {
			t.Fatalf("%s decoded to %+v, re-encoded as %s, then as %s", body, v, again, twice)
		}
	})
}

// FuzzDecodeReceivers feeds send bodies to decodeReceivers. A body it
// cannot read is refused as decodeJSON refuses; otherwise each receiver
// either decodes exactly as it would on its own or gets its own problems,
// naming its fields in words a client reads.
// Seeds: testdata/fuzz/FuzzDecodeReceivers (CORE's SendManyToContextDto)
// and below.
func FuzzDecodeReceivers(f *testing.F) {
	for _, body := range []string{
		`{"receivers":[{"credentialId":"c","foreignId":"f","token":"740f4707bebcf74f9b7c25d48e3358945f6aa01da5ddb387462c7eaf61bb78ad"}]}`,
		`{"receivers":[{"credentialId":"c","endpoint":"https://fcm.googleapis.com/fcm/send/x","p256dh":"BCVx","auth":"BTBZ"}]}`,
		`{"receivers":[5, "x", null, [], {"credentialId":7}, {"token":{}}, {"credentialId":"c"}]}`,
		`{"receivers":{"credentialId":"c"}}`, `{"receivers":"x"}`, `{"receivers":[]}`, `{}`, `[]`,
		`{"receivers":[{"credentialId":"c"}]} x`, `{"receivers":[`, ``,
	} {
		f.Add([]byte(body))
	}
	fields := []string{"receiver", "credentialId", "foreignId", "token", "endpoint", "p256dh", "auth"}
	f.Fuzz(func(t *testing.T, body []byte) {
		receivers, errs, err := decodeReceivers(body)
		if err != nil {
			if s := fuzzcheck.Refused(err, "body", "receivers"); s != "" {
				t.Fatal(s)
			}
			return
		}
		if len(errs) != len(receivers) {
			t.Fatalf("%d receivers, %d error lists", len(receivers), len(errs))
		}
		var raw struct {
			Receivers []json.RawMessage `json:"receivers"`
		}
		if err := json.Unmarshal(body, &raw); err != nil && errs == nil {
			t.Fatalf("accepted %q: %v", body, err)
		}
		for i, problems := range errs {
			if problems == nil {
				var alone recipients.Receiver
				if i < len(raw.Receivers) {
					if err := json.Unmarshal(raw.Receivers[i], &alone); err != nil {
						t.Fatalf("receiver %d %s decoded, but does not on its own: %v", i, raw.Receivers[i], err)
					}
				}
				if alone != receivers[i] {
					t.Fatalf("receiver %d decoded as %+v, on its own as %+v", i, receivers[i], alone)
				}
				continue
			}
			if len(problems) == 0 || slices.Contains(problems, "") {
				t.Fatalf("receiver %d has problems %q", i, problems)
			}
			for _, p := range problems {
				if s := fuzzcheck.Problem(p, fields...); s != "" {
					t.Fatalf("receiver %d: %s", i, s)
				}
				if strings.Contains(p, "json:") {
					t.Fatalf("receiver %d: %q", i, p)
				}
			}
		}
	})
}

package buckets

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"reflect"
	"testing"

	"github.com/pushgate/pushgate/internal/fuzzcheck"
)

// errNoDial stops a request once net/http has checked it, before it leaves.
var errNoDial = errors.New("not dialled")

// FuzzCallbackConfig feeds callbackConfig values to ParseCreateRequest. A
// refusal names fields under callbackConfig; an accepted http callback is
// one the webhook dispatcher can send as it is stored (sealed as JSON and
// opened again): net/http takes its URL and headers, none of them replaces
// a header a consumer verifies, and its batching is within bounds.
// Seeds: testdata/fuzz/FuzzCallbackConfig (CORE's documented example) and
// the cases below.
func FuzzCallbackConfig(f *testing.F) {
	for _, cb := range []any{
		obj{"type": "none"},
		obj{"type": "http", "payload": obj{"url": "http://your-domain.com/some/path", "headers": obj{"x-secret": "**keyboard cat**"}}},
		obj{"type": "http", "payload": obj{"url": "https://hooks.example.com/ppg?token=abc", "headers": obj{"Authorization": "Bearer x", "X-Tab": "a\tb"}, "batchSize": 500, "flushIntervalMs": 2000}},
		obj{"type": "http", "payload": obj{"url": "https://user:pass@hooks.example.com:8443/p#frag", "headers": obj{"webhook-signature": "v1,forged", "Content-Type": "text/plain"}}},
		obj{"type": "http", "payload": obj{"url": "https://h.example", "headers": obj{"X-A": "1", "x-a": "2", "X A": "3", "X-B": "a\r\nInjected: 1", "X-C": 5}}},
		obj{"type": "http", "payload": obj{"url": "https://h.example", "batchSize": 0, "flushIntervalMs": 99}},
		obj{"type": "http", "payload": obj{"url": "https://h.example", "batchSize": 1.5, "flushIntervalMs": "1000"}},
		obj{"type": "http", "payload": obj{"url": "ftp://h.example"}},
		obj{"type": "http", "payload": obj{"url": "https:opaque"}},
		obj{"type": "http", "payload": obj{"url": "https://[::1"}},
		obj{"type": "http", "payload": "https://h.example"},
		obj{"type": "http"},
		obj{"type": "HTTP", "payload": obj{"url": "https://h.example"}},
		obj{"type": 1},
		"none", nil, []any{},
	} {
		b, err := json.Marshal(cb)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	transport := &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) { return nil, errNoDial }}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) {
			return // the body would not be JSON: FuzzParseCreateRequest's case
		}
		body := append(append([]byte(`{"providerCredentials":[{"type":"websocket"}],"callbackConfig":`), raw...), '}')
		_, cb, err := ParseCreateRequest(body, ParseOptions{})
		if err != nil {
			if s := fuzzcheck.Refused(err, "callbackConfig"); s != "" {
				t.Fatal(s)
			}
			return
		}
		// Stored sealed as JSON, opened when a batch goes out.
		sealed, err := json.Marshal(cb)
		if err != nil {
			t.Fatal(err)
		}
		var opened Callback
		if len(cb.Headers) == 0 {
			cb.Headers = nil // {} is stored as no headers, which is the same
		}
		if err := json.Unmarshal(sealed, &opened); err != nil || !reflect.DeepEqual(opened, cb) {
			t.Fatalf("callback %+v was stored as %s and opened as %+v (%v)", cb, sealed, opened, err)
		}
		switch cb.Type {
		case "none":
			if !reflect.DeepEqual(cb, Callback{Type: "none"}) {
				t.Fatalf("callback %+v", cb)
			}
			return
		case "http":
		default:
			t.Fatalf("callback type %q accepted", cb.Type)
		}
		if cb.BatchSize != 0 && (cb.BatchSize < 1 || cb.BatchSize > MaxCallbackBatchSize) ||
			cb.FlushIntervalMs != 0 && (cb.FlushIntervalMs < 100 || cb.FlushIntervalMs > MaxCallbackFlushIntervalMs) ||
			len(cb.URL) > MaxCallbackURLLength || len(cb.Headers) > MaxCallbackHeaders {
			t.Fatalf("callback %+v is outside its bounds", cb)
		}
		// As the dispatcher builds its request.
		req, err := http.NewRequest(http.MethodPost, opened.URL, bytes.NewReader([]byte(`{"messages":[]}`)))
		if err != nil {
			t.Fatalf("callback URL %q accepted, but no request can go there: %v", opened.URL, err)
		}
		if req.URL.Scheme != "http" && req.URL.Scheme != "https" || req.URL.Host == "" {
			t.Fatalf("callback URL %q accepted", opened.URL)
		}
		for k, v := range opened.Headers {
			req.Header.Set(k, v)
		}
		if len(req.Header) != len(opened.Headers) {
			t.Fatalf("headers %q collapse into %q: one silently wins", opened.Headers, req.Header)
		}
		for _, verified := range []string{"Webhook-Id", "Webhook-Timestamp", "Webhook-Signature", "Content-Type"} {
			if _, ok := req.Header[verified]; ok {
				t.Fatalf("a bucket sets %s, which pushgate sets", verified)
			}
		}
		if _, err := transport.RoundTrip(req); !errors.Is(err, errNoDial) {
			t.Fatalf("net/http refuses the callback request: %v (url %q, headers %q)", err, opened.URL, opened.Headers)
		}
	})
}

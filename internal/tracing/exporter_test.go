package tracing

import "testing"

func TestParseEndpoint(t *testing.T) {
	for raw, want := range map[string]string{
		"http://localhost:4318":                   "http://localhost:4318/v1/traces",
		"http://localhost:4318/":                  "http://localhost:4318/v1/traces",
		"https://otel.example.com/otlp":           "https://otel.example.com/otlp/v1/traces",
		"https://otel.example.com/otlp/v1/traces": "https://otel.example.com/otlp/v1/traces",
		"http://[::1]:4318":                       "http://[::1]:4318/v1/traces",
	} {
		if got, err := ParseEndpoint(raw); err != nil || got != want {
			t.Errorf("%s: %q %v, want %q", raw, got, err, want)
		}
	}
	for _, raw := range []string{
		"localhost:4318", "grpc://localhost:4317", "http://", "http:///v1/traces", "ftp://x",
		"http://user:pass@localhost:4318", "http://localhost:4318?key=x", "http://localhost:4318/#x",
		"http://localhost:4318/?", " http://localhost:4318", "http://local host:4318",
	} {
		if got, err := ParseEndpoint(raw); err == nil {
			t.Errorf("%q accepted as %q", raw, got)
		}
	}
}

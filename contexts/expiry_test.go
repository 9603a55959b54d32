package contexts_test

import (
	"math"
	"testing"
	"time"

	"github.com/pushgate/pushgate/contexts"
)

func TestExpiresAt(t *testing.T) {
	created := time.Date(2025, 7, 1, 10, 0, 0, 0, time.UTC)
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		name string
		c    contexts.Context
		want time.Time
	}{
		{"data without expiry", contexts.Context{Kind: contexts.KindData, Data: &contexts.Data{Title: "t"}}, time.Time{}},
		{"data ttl", contexts.Context{Kind: contexts.KindData, Data: &contexts.Data{TTL: ptr(3600.0)}}, created.Add(time.Hour)},
		{"data ttl 0 is now or never", contexts.Context{Kind: contexts.KindData, Data: &contexts.Data{TTL: ptr(0.0)}}, created},
		{"data expiresAt", contexts.Context{Kind: contexts.KindData, Data: &contexts.Data{ExpiresAt: "2025-07-02T00:00:00Z"}}, at("2025-07-02T00:00:00Z")},
		{"data expiresAt earlier than ttl", contexts.Context{Kind: contexts.KindData, Data: &contexts.Data{TTL: ptr(86400.0), ExpiresAt: "2025-07-01T12:00:00+02:00"}}, at("2025-07-01T10:00:00Z")},
		{"data ttl earlier than expiresAt", contexts.Context{Kind: contexts.KindData, Data: &contexts.Data{TTL: ptr(60.0), ExpiresAt: "2025-07-02T00:00:00Z"}}, created.Add(time.Minute)},
		{"data fractional expiresAt", contexts.Context{Kind: contexts.KindData, Data: &contexts.Data{ExpiresAt: "2025-07-05T08:19:58.715Z"}}, at("2025-07-05T08:19:58.715Z")},
		{"silent ttl", contexts.Context{Kind: contexts.KindSilent, Silent: &contexts.Silent{TTL: ptr(120.0)}}, created.Add(2 * time.Minute)},
		{"silent both", contexts.Context{Kind: contexts.KindSilent, Silent: &contexts.Silent{TTL: ptr(7200.0), ExpiresAt: "2025-07-01T11:00:00Z"}}, at("2025-07-01T11:00:00Z")},
		{"silent without expiry", contexts.Context{Kind: contexts.KindSilent, Silent: &contexts.Silent{}}, time.Time{}},
		{"raw common", contexts.Context{Kind: contexts.KindRaw, Raw: &contexts.Raw{Common: &contexts.RawCommon{TTL: ptr(30.0), ExpiresAt: "2025-07-03T00:00:00Z"}}}, created.Add(30 * time.Second)},
		// A section's own values apply to its platform only (Expiry).
		{"raw section only", contexts.Context{Kind: contexts.KindRaw, Raw: &contexts.Raw{Chromium: &contexts.RawWebPush{TTL: ptr(30.0)}}}, time.Time{}},
		{"raw common without expiry", contexts.Context{Kind: contexts.KindRaw, Raw: &contexts.Raw{Common: &contexts.RawCommon{Title: "t"}}}, time.Time{}},
		{"payload of another kind", contexts.Context{Kind: contexts.KindRaw, Data: &contexts.Data{TTL: ptr(30.0)}}, time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.c.CreatedAt = created
			if got := tc.c.ExpiresAt(); !got.Equal(tc.want) || got.IsZero() != tc.want.IsZero() {
				t.Errorf("ExpiresAt() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestExpiry(t *testing.T) {
	created := time.Date(2025, 7, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		created   time.Time
		ttl       *float64
		expiresAt string
		want      time.Time
	}{
		{"nothing", created, nil, "", time.Time{}},
		{"ttl without created", time.Time{}, ptr(60.0), "", time.Time{}},
		{"expiresAt without created", time.Time{}, ptr(60.0), "2025-07-02T00:00:00Z", time.Date(2025, 7, 2, 0, 0, 0, 0, time.UTC)},
		{"unparsable expiresAt", created, ptr(60.0), "tomorrow", created.Add(time.Minute)},
		{"negative ttl", created, ptr(-60.0), "", created},
		{"huge ttl", created, ptr(1e300), "", created.Add(contexts.MaxExpiresIn)},
		{"NaN ttl", created, ptr(math.NaN()), "", time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := contexts.Expiry(tc.created, tc.ttl, tc.expiresAt); !got.Equal(tc.want) {
				t.Errorf("Expiry() = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestParsedExpiry ties Parse and ExpiresAt together: a parsed context's
// CreatedAt is the parse time.
func TestParsedExpiry(t *testing.T) {
	c, err := contexts.Parse(contexts.KindSilent, []byte(`{"ttl": 120}`), now)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.ExpiresAt(); !got.Equal(now.Add(2 * time.Minute)) {
		t.Errorf("ExpiresAt() = %v", got)
	}
}

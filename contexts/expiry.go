package contexts

import (
	"math"
	"time"
)

// ExpiresAt returns when messages of c stop being worth delivering: the
// earlier of CreatedAt plus ttl and expiresAt, taken from the data or
// silent payload, or from a raw context's common section (a raw section's
// own values apply only to its platform: see Expiry). It is the zero time
// when neither is set, and adapters then use the vendor's maximum.
//
// A ttl of 0 gives CreatedAt itself: "deliver now or never", as FCM and
// Web Push read it.
func (c *Context) ExpiresAt() time.Time {
	switch {
	case c.Data != nil && c.Kind == KindData:
		return Expiry(c.CreatedAt, c.Data.TTL, c.Data.ExpiresAt)
	case c.Silent != nil && c.Kind == KindSilent:
		return Expiry(c.CreatedAt, c.Silent.TTL, c.Silent.ExpiresAt)
	case c.Raw != nil && c.Raw.Common != nil && c.Kind == KindRaw:
		return Expiry(c.CreatedAt, c.Raw.Common.TTL, c.Raw.Common.ExpiresAt)
	}
	return time.Time{}
}

// Expiry is the earlier of created plus ttl seconds and expiresAt (RFC
// 3339), or the zero time when neither is set; adapters use it for a raw
// section's own ttl and expiresAt. Values Parse never lets through are
// tolerated rather than trusted, for contexts built in code: a ttl outside
// 0..MaxTTL is clamped to it, and a ttl with a zero created (it would count
// from year 1), a NaN ttl and an expiresAt that does not parse are ignored.
func Expiry(created time.Time, ttl *float64, expiresAt string) time.Time {
	var at time.Time
	if ttl != nil && !created.IsZero() && !math.IsNaN(*ttl) {
		secs := min(max(*ttl, 0), MaxTTL)
		at = created.Add(time.Duration(secs * float64(time.Second)))
	}
	if expiresAt != "" {
		if t, err := time.Parse(time.RFC3339, expiresAt); err == nil && (at.IsZero() || t.Before(at)) {
			at = t
		}
	}
	return at
}

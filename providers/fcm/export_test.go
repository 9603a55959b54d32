package fcm

import "time"

// SetClock makes p read the time from now, so tests can say exactly what
// TTL a message gets.
func SetClock(p *Provider, now func() time.Time) { p.now = now }

package hms

import "time"

// SetClock makes p read the time from now.
func SetClock(p *Provider, now func() time.Time) {
	p.now = now
	p.tokens.now = now
}

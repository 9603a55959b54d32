// Package webpush is the Web Push (RFC 8030) provider: it renders a context
// into the JSON the service worker reads (docs/payloads.md), encrypts it for
// one subscription (RFC 8291), signs the request with the bucket's VAPID key
// (RFC 8292) through github.com/SherClockHolmes/webpush-go, and classifies
// the push service's answer.
//
// Push endpoints are URLs that browsers, and so anyone, hand us: every
// connection it makes must go through a pushgate.SSRFGuard, and it must never
// follow an endpoint's redirects. It never retries; delivery does.
package webpush

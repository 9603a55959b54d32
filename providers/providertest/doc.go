// Package providertest holds local fakes of the push services, for tests
// only: APNS (HTTP/2 over TLS, verifying the ES256 provider token), FCM (the
// OAuth token endpoint and the v1 send API, checking the bearer token and the
// message shape) and a Web Push service that verifies the VAPID JWT and
// decrypts every body with the subscriber's keys. Each can be scripted to
// answer unregistered, bad token, 429 with Retry-After, 5xx, or slowly, and
// records what it received.
package providertest

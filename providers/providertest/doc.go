// Package providertest holds local fakes of the push services, for tests
// only: APNS (HTTP/2 over TLS, verifying the ES256 provider token), FCM (the
// OAuth token endpoint and the v1 send API, checking the bearer token and the
// message shape), Huawei Push Kit (the OAuth client-credentials endpoint and
// the v1 send API, checking the app's secret, the bearer token of the app
// in the path, and the message shape; HMSFake) and a Web Push service that
// verifies the VAPID JWT and decrypts every body with the subscriber's keys. Each can be scripted to
// answer unregistered, bad token, 429 with Retry-After, 5xx, or slowly, and
// records what it received.
//
// HMSFake has Unregister, FailNext and Delivered of the switches below,
// and ExpireTokens, SetTokenLifetime, TokensIssued and Requests of its own.
//
// The three fakes share one set of switches, each with the fake's own
// answer type (APNSReply, *FCMError, WebPushReply):
//
//	Unregister(receiver)     the device or subscription is gone from now on
//	FailToken(token, answer) (APNS, FCM) one device answers so until ClearToken
//	FailNext(n, answer)      the next n sends answer so, whatever they hold
//	                         (calls queue up)
//	SetLatency(d)            every answer waits d
//	SetCountOnly(on)         count without recording, for load tests
//	Delivered()              what was accepted, in order (DeliveredTo(receiver):
//	                         to one receiver, FCM and Web Push)
//	Counts()                 Requests, Accepted, Rejected and the fake's own
package providertest

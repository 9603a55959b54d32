// Package buckets holds PushPushGo CORE's buckets: temporary groups of
// provider credentials (APNS by token or certificate, FCM v1, VAPID for Web
// Push, pushgate's own WebSocket provider) with a callback configuration.
//
// Every credential is checked when its bucket is created (keys parse,
// certificates open, key pairs match), so a send never fails for a reason
// that was knowable up front. Secret material is sealed with the root
// Keyring before it reaches a Store and never leaves this package in an API
// answer. Buckets expire after an idle period.
package buckets

// Package fcm is the provider adapter for Firebase Cloud Messaging (HTTP v1):
// it renders a context into an FCM message as docs/payloads.md specifies,
// sends it with the Firebase Admin SDK under the bucket's service account,
// and classifies FCM's answer into a providers.Outcome.
//
// It never retries on its own (the Admin SDK retries 503 and network errors
// inside one Send; everything else is delivery's decision), never reads the
// environment, and never loads a credential of any type but a Google service
// account: credentials come from API clients, and other credential types make
// Google's libraries fetch URLs or run programs they name. The service
// account's token_uri is such a URL: every request to it goes through a
// pushgate.SSRFGuard, and neither it nor FCM is followed through a redirect.
package fcm

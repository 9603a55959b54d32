// Package providers is the seam between delivery and the push vendors: the
// Provider interface every adapter implements (providers/apns, providers/fcm,
// providers/hms, providers/webpush, and providers/websocket, the in-house
// provider that stores into users' inboxes), the optional BatchSender of
// adapters whose vendor takes many receivers in one request, the one
// classification of outcomes they all report in, and the registry that
// builds a provider for a credential.
//
// Adapters render a context into their vendor's payload, send it with the
// vendor's own client library, and turn the vendor's answer into an Outcome.
// They never retry (delivery does, with backoff and Retry-After) and never
// touch storage.
package providers

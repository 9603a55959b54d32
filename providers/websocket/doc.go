// Package websocket is pushgate's own provider: the adapter through which
// a CORE send with websocket receivers reaches the inbox and, through it,
// the realtime hub. A receiver is a user of the app ({credentialId,
// userId, foreignId}); its message is rendered from the context into an
// inbox notification for that one user (Source core, with the bucket and
// message ids, so that the user's devices acknowledging and reading it can
// become the message's delivered and clicked webhook events) and stored.
//
// The message is sent once it is stored in the user's inbox: devices
// online hear of it at once, the others when they next connect. A storage
// failure is the transient outcome unavailable (delivery retries it); a
// notification the inbox refuses is the permanent invalid_payload. The
// inbox notification takes the message's id, so a retry after a store
// whose outcome was unknown finds it already there and is sent, never
// stored twice.
//
// DESIGN.md lets an adapter import providers and its inputs; this one also
// imports inbox, the domain package it delivers into (it imports only the
// root package, so the arrows still point one way). It calls the inbox
// through the Inbox interface declared here, which inbox.Service
// implements.
package websocket

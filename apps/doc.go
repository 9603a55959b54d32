// Package apps holds tenancy: apps, their public key and secret, and their
// API keys. Every bucket, context, message, client token and channel belongs
// to one app, and an API key only ever opens its own app.
//
// API keys carry a Role. Admin keys may also create, list and revoke the
// app's keys; standard keys (the default) may not. An app always keeps one
// admin key: the Store refuses to delete the last one (ErrLastAdmin) in the
// same atomic step as the delete, and only the operator's CLI may force it.
//
// Service.Authenticate remembers accepted keys for Options.AuthCacheTTL, but
// only while the Store's auth epoch, a counter every revocation and app
// deletion advances in its own transaction, has been read within the last
// two EpochPolls and has not moved. The reads are done by a watcher that
// Start starts and Shutdown stops; without Start nothing is remembered and
// every key is looked up in the database. So a key revoked anywhere (another
// node, the CLI) stops working everywhere within 2*EpochPoll, with no
// message bus.
//
// The package is not in DESIGN.md's table (which leaves tenancy unplaced); it
// sits beside the other domain packages, imports only the root package, and
// declares the Store that package storage implements.
//
// Secrets are sealed with the root Keyring (the server must read an app
// secret back to check HMAC signatures); API keys are stored as SHA-256
// hashes and shown once, when created. Nothing remembered holds a secret.
package apps

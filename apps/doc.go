// Package apps holds tenancy: apps, their public key and secret, and their
// API keys. Every bucket, context, message, client token and channel belongs
// to one app, and an API key only ever opens its own app.
//
// The package is not in DESIGN.md's table (which leaves tenancy unplaced); it
// sits beside the other domain packages, imports only the root package, and
// declares the Store that package storage implements.
//
// Secrets are sealed with the root Keyring (the server must read an app
// secret back to check HMAC signatures); API keys are stored as SHA-256
// hashes and shown once, when created.
package apps

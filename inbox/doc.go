// Package inbox keeps what pushgate's own provider delivers: client tokens
// (one end user's credential for the inbox and realtime sessions),
// notifications stored once however many users they reach, and each user's
// state of them (unseen, delivered, read, deleted), unseen counts, history
// and retention.
//
// It is a domain package: it imports only the root package and declares the
// Store that storage/sqlstore implements. The realtime hub tells connected
// devices what changed; the inbox is what a device that was away finds.
package inbox

// Package inbox keeps what pushgate's own provider delivers: client tokens
// (one end user's credential for the inbox and realtime sessions),
// notifications stored once however many users they reach, and each user's
// state of them (unseen, delivered, read, deleted), unseen counts, history
// and retention.
//
// Service validates what comes in (tokens, notifications, a user's marks),
// has a notification's image put on the image CDN through the Images it
// is given (it never fetches anything itself), stores it through Store,
// and then tells its Listener what changed; the
// realtime hub is that listener and tells connected devices. The inbox is
// what a device that was away finds. Purge is the body of the retention
// job.
//
// It is a domain package: it imports only the root package and declares the
// Store that storage/sqlstore implements. It never speaks HTTP or the wire
// protocols, and never writes a row per user for a broadcast.
package inbox

// Package messages holds the record of each accepted notification to one
// receiver, from the moment it is accepted ("queued") to its fate ("sent",
// "failed" with a reason, or "expired"), and the Store interface that
// keeps it. The database is the source of truth for it; the work queue
// only carries message ids.
//
// A store keeps the messages a send made with one pushgate.IDGroup (a
// chunk, which one task claims) together if it likes: sqlstore keeps a
// chunk as one outbox row, keyed by its IDGroup, on PostgreSQL and SQLite
// alike, which also keeps the final results of the messages claimed with
// it (and their webhook events go into one row per bucket), and Claim
// names the row a message came from in Message.Chunk for Finish to find.
// Either way Get answers for every message by its id. Insert fails with
// ErrIDTaken (storing nothing) when an id or IDGroup is in use already, so
// that the caller can make new ids; Finish fails with ErrUnstorable when
// the database refuses the data itself, so that the caller can store the
// other results and that one made storable. StorableText makes any text
// storable on every backend (NUL and invalid UTF-8 become U+FFFD).
//
// This package is an addition to DESIGN.md's table: both delivery (which
// moves messages along) and httpapi (which shows their status) need the
// record, and neither may own it for the other. It imports the root
// package (IDGroup, and the storable-text predicate) and recipients (a
// message's receiver) only, and no store: storage implements Store.
package messages

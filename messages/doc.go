// Package messages holds the outbox: one record per accepted notification
// to one receiver, from the moment it is accepted ("queued") to its fate
// ("sent", "failed" with a reason, or "expired"). The database is the source
// of truth for it; the work queue only carries message ids.
//
// This package is an addition to DESIGN.md's table: both delivery (which
// moves messages along) and httpapi (which shows their status) need the
// record, and neither may own it for the other. It imports the root package
// and recipients.
package messages

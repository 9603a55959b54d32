// Package sqlstore implements the domain stores on SQL, for SQLite
// (modernc.org/sqlite, no cgo) and PostgreSQL (pgx). Queries are written once
// with ? placeholders and rebound for PostgreSQL; the few statements that
// differ between dialects say so where they stand. Migrations are kept per
// dialect under migrations/ and applied with goose, under an advisory lock
// on PostgreSQL so that several nodes may start at once.
//
// Validation, sealing and policy stay in the domain packages, which declare
// the interfaces implemented here. Where a rule must hold against
// concurrent writers, the store enforces the part the contract assigns it,
// in the same transaction as the write: CreateFirst's one winner, and an
// app's last admin key that DeleteAPIKey refuses to delete
// (apps.ErrLastAdmin).
package sqlstore

// Package sqlstore implements the domain stores on SQL, for SQLite
// (modernc.org/sqlite, no cgo) and PostgreSQL (pgx). Queries are written once
// with ? placeholders and rebound for PostgreSQL; the few statements that
// differ between dialects say so where they stand. Migrations are kept per
// dialect under migrations/ and applied with goose, under an advisory lock
// on PostgreSQL so that several nodes may start at once.
//
// It never decides anything: validation, sealing and policy stay in the
// domain packages, which declare the interfaces implemented here.
package sqlstore

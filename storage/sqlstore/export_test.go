package sqlstore

import (
	"context"

	"github.com/pushgate/pushgate/messages"
)

// InsertOldSchemeChunk stores msgs as one outbox row keyed by the first 28
// characters of their ids, as nodes did before ids kept 66 bits of their
// own (their chunks shared 28 characters), so tests can check that such
// rows are still found, claimed and delivered after an upgrade.
func InsertOldSchemeChunk(ctx context.Context, db *DB, msgs []*messages.Message) error {
	m := msgs[0]
	_, err := db.exec(ctx, db, `INSERT INTO outbox (id, `+outboxColumns+`, size) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID[:28], m.AppID, m.BucketID, m.ContextID, m.CredentialID, m.Provider, m.CreatedAt.UTC(), nullTime(m.ExpiresAt), m.EnqueuedAt.UTC(),
		packReceivers(msgs), len(msgs))
	return err
}

// MigrateUpTo applies the migrations up to and including version, so tests
// can put rows in an older schema and watch a migration carry them over.
func MigrateUpTo(ctx context.Context, db *DB, version int64) error {
	p, err := db.migrator()
	if err != nil {
		return err
	}
	_, err = p.UpTo(ctx, version)
	return err
}

// OutboxKeys is outboxKeys, for tests of which keys a claim sends.
var OutboxKeys = outboxKeys

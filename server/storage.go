package server

import (
	"context"
	"fmt"

	"github.com/pushgate/pushgate/apps"
	"github.com/pushgate/pushgate/storage/sqlstore"
)

// openStorage builds the master keyring, opens the database, applies pending migrations, builds the
// app service and creates the first app if this is a new installation.
func (s *Server) openStorage(ctx context.Context) error {
	var err error
	if s.keyring, err = s.cfg.keyring(); err != nil {
		return err
	}
	var n int
	s.DB, n, err = openDB(ctx, s.cfg)
	if err != nil {
		return err
	}
	if n > 0 {
		s.log.Info("applied database migrations", "count", n)
	}
	s.Apps = apps.NewService(s.DB.Apps(), s.keyring, apps.Options{AuthCacheTTL: s.cfg.AuthCacheTTL, Logger: s.log, Now: s.now, Guard: s.guard})
	if s.cfg.FirstAppName != "" {
		s.firstApp, s.firstAppNew, err = s.Apps.CreateFirst(ctx, s.cfg.FirstAppName)
		if err != nil {
			return fmt.Errorf("create first app: %w", err)
		}
	}
	return nil
}

// openDB opens the configured database and applies pending migrations,
// answering how many it applied. On failure nothing is left open.
func openDB(ctx context.Context, cfg Config) (*sqlstore.DB, int, error) {
	db, err := sqlstore.Open(ctx, cfg.DatabaseURL, sqlstore.Options{DataDir: cfg.DataDir})
	if err != nil {
		return nil, 0, fmt.Errorf("database_url: %w", err)
	}
	n, err := db.Migrate(ctx)
	if err != nil {
		db.Close()
		return nil, 0, err
	}
	return db, n, nil
}

// OpenApps opens just the database (migrating it) and the app service, for
// management commands that run beside the nodes.
func OpenApps(ctx context.Context, cfg Config) (*apps.Service, func(), error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	keyring, err := cfg.keyring()
	if err != nil {
		return nil, nil, err
	}
	db, _, err := openDB(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	return apps.NewService(db.Apps(), keyring, apps.Options{AuthCacheTTL: -1}), func() { db.Close() }, nil
}

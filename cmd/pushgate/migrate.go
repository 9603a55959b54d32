package main

import (
	"context"
	"fmt"

	"github.com/pushgate/pushgate/storage/sqlstore"
)

func (e env) migrate(ctx context.Context, args []string) error {
	fs := e.newFlagSet("migrate", "migrate [up|status] [flags]")
	sf := addSettingFlags(fs, storageSettings...)
	rest, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	action := "up"
	if len(rest) > 0 {
		action = rest[0]
	}
	if len(rest) > 1 || (action != "up" && action != "status") {
		return fmt.Errorf("%w: migrate takes up or status", errUsage)
	}
	cfg, err := e.storageConfig(sf)
	if err != nil {
		return err
	}
	db, err := sqlstore.Open(ctx, cfg.DatabaseURL, sqlstore.Options{DataDir: cfg.DataDir})
	if err != nil {
		return err
	}
	defer db.Close()
	if action == "up" {
		n, err := db.Migrate(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "applied %d migration(s) to %s %s\n", n, db.Dialect, db.Where)
		return nil
	}
	st, err := db.MigrationStatus(ctx)
	if err != nil {
		return err
	}
	for _, s := range st {
		state := "pending"
		if s.Applied {
			state = "applied"
		}
		fmt.Fprintf(e.stdout, "%-8s %s\n", state, s.Name)
	}
	return nil
}

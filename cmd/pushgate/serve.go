package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/pushgate/pushgate/apps"
	"github.com/pushgate/pushgate/server"
)

func (e env) serve(ctx context.Context, args []string) error {
	fs := e.newFlagSet("serve", "serve [flags]")
	sf := addSettingFlags(fs)
	asJSON := fs.Bool("json", false, "print the first app's credentials as JSON (also when log_format is json)")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("%w: serve takes no arguments, got %q", errUsage, rest)
	}
	cfg, o, err := sf.resolve(e.getenv)
	if err != nil {
		return err
	}
	log := e.newLogger(o)
	cfg.Logger = log

	srv, err := server.New(ctx, cfg)
	if err != nil {
		return err
	}
	// Credentials come before the listening line, so a script that waits
	// for that line has them.
	if creds, created := srv.FirstApp(); created {
		e.printCredentials(creds, *asJSON || o.logFormat == "json", "Created the first app")
	} else if cfg.FirstAppName != "" {
		log.Info("first app exists; `pushgate apps list` shows the apps, `pushgate apps keys create` adds API keys")
	}
	if err := srv.Start(ctx); err != nil {
		srv.Shutdown(context.Background())
		return err
	}

	<-ctx.Done()
	log.Info("shutting down", "grace", cfg.ShutdownGrace.String())
	if err := srv.Shutdown(context.Background()); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// printCredentials shows an app's credentials, which are never shown again.
func (e env) printCredentials(c apps.Credentials, asJSON bool, title string) {
	if asJSON {
		b, _ := json.Marshal(struct {
			AppID  string `json:"appId"`
			Key    string `json:"key"`
			Secret string `json:"secret"`
			APIKey string `json:"apiKey"`
		}{c.AppID, c.Key, c.Secret, c.APIKey})
		fmt.Fprintln(e.stdout, string(b))
		return
	}
	fmt.Fprintf(e.stdout, `%s %q. Keep these: the secret and API key are not shown again.
  app id:   %s
  key:      %s
  secret:   %s
  API key:  %s
`, title, c.Name, c.AppID, c.Key, c.Secret, c.APIKey)
}

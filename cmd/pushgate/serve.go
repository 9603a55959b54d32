package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/pushgate/pushgate/apps"
	"github.com/pushgate/pushgate/server"
)

func (e env) serve(ctx context.Context, args []string) error {
	fs := e.newFlagSet("serve", "serve [flags]")
	sf := addSettingFlags(fs)
	asJSON := fs.Bool("json", false, "print the first app's credentials to stdout as JSON (with log_format json they go to a file otherwise)")
	rest, err := e.parse(fs, args)
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
		switch {
		case *asJSON || o.logFormat == "text":
			e.printCredentials(creds, *asJSON, "Created the first app")
		default:
			// JSON logs mean a collector reads this process's output:
			// the secret and admin key go where only the operator looks.
			e.saveFirstApp(log, cfg.DataDir, creds)
		}
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

// firstAppFile holds the first app's credentials in data_dir when the logs
// are JSON.
const firstAppFile = "first-app-credentials.json"

// saveFirstApp writes the first app's credentials to a file only the
// owner can read, and logs where it is but not what it holds.
func (e env) saveFirstApp(log *slog.Logger, dataDir string, c apps.Credentials) {
	path, err := writePrivateFile(dataDir, firstAppFile, credentialsJSON(c))
	if err != nil {
		// The app exists already, so failing the start would not bring
		// the credentials back; the operator can make new ones.
		log.Error("created the first app but could not write its credentials; make an admin API key with `pushgate apps keys create APP_ID --role admin` and a secret with `pushgate apps rotate-secret APP_ID`",
			"app_id", c.AppID, "err", err)
		return
	}
	log.Info("created the first app; its secret and admin API key are in a file only this user can read: keep them elsewhere and delete it",
		"app_id", c.AppID, "name", c.Name, "credentials_file", path)
}

// writePrivateFile writes data to dir/name with mode 0600, replacing any
// file there, so the result is never readable by others even for a moment
// and never keeps an older file's wider mode.
func writePrivateFile(dir, name string, data []byte) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, "."+name+".*") // CreateTemp makes it 0600
	if err != nil {
		return "", err
	}
	_, werr := f.Write(data)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	path := filepath.Join(dir, name)
	if werr == nil {
		werr = os.Rename(f.Name(), path)
	}
	if werr != nil {
		os.Remove(f.Name())
		return "", werr
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return path, nil
}

func credentialsJSON(c apps.Credentials) []byte {
	b, _ := json.Marshal(struct {
		AppID  string `json:"appId"`
		Name   string `json:"name"`
		Key    string `json:"key"`
		Secret string `json:"secret"`
		APIKey string `json:"apiKey"`
	}{c.AppID, c.Name, c.Key, c.Secret, c.APIKey})
	return append(b, '\n')
}

// printCredentials shows an app's credentials, which are never shown again.
func (e env) printCredentials(c apps.Credentials, asJSON bool, title string) {
	if asJSON {
		e.stdout.Write(credentialsJSON(c))
		return
	}
	fmt.Fprintf(e.stdout, `%s %q. Keep these: the secret and API key are not shown again.
  app id:   %s
  key:      %s
  secret:   %s
  API key:  %s
`, title, c.Name, c.AppID, c.Key, c.Secret, c.APIKey)
}

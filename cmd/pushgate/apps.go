package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/pushgate/pushgate/apps"
	"github.com/pushgate/pushgate/server"
)

// appsUsage lists the apps subcommands ('pushgate apps --help').
const appsUsage = `Usage: pushgate apps SUBCOMMAND [flags]

  create --name NAME [--json]        create an app, print its credentials (an admin API key) once
  list [--json]                      list apps
  rotate-secret APP_ID [--json]      give an app a new secret
  delete APP_ID                      delete an app and everything it owns
  keys create|list|revoke ...        manage an app's API keys ('pushgate apps keys --help')

'pushgate apps SUBCOMMAND --help' lists a subcommand's flags.
`

const appKeysUsage = `Usage: pushgate apps keys SUBCOMMAND [flags]

  create APP_ID [--name N] [--role standard|admin] [--json]   add an API key (standard unless --role admin)
  list APP_ID [--json]                                        list an app's API keys and their roles
  revoke APP_ID KEY_ID [--force]                              revoke an API key (--force: even the last admin key)

'pushgate apps keys SUBCOMMAND --help' lists a subcommand's flags.
`

func (e env) apps(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: apps needs a subcommand: create, list, rotate-secret, delete, keys ('pushgate apps --help')", errUsage)
	}
	if isHelp(args[0]) {
		fmt.Fprint(e.stdout, appsUsage)
		return nil
	}
	if args[0] == "keys" {
		return e.appKeys(ctx, args[1:])
	}
	sub := args[0]
	var synopsis string
	nargs := 1
	switch sub {
	case "create":
		synopsis, nargs = "apps create --name NAME [--json] [flags]", 0
	case "list":
		synopsis, nargs = "apps list [--json] [flags]", 0
	case "rotate-secret":
		synopsis = "apps rotate-secret APP_ID [--json] [flags]"
	case "delete":
		synopsis = "apps delete APP_ID [flags]"
	default:
		return fmt.Errorf("%w: unknown apps subcommand %q", errUsage, sub)
	}
	fs := e.newFlagSet("apps "+sub, synopsis)
	sf := addSettingFlags(fs, storageSettings...)
	name := ""
	if sub == "create" {
		fs.StringVar(&name, "name", "", "name of the app (required)")
	}
	asJSON := fs.Bool("json", false, "print JSON")
	svc, done, rest, err := e.openApps(ctx, fs, sf, args[1:], nargs, synopsis)
	if err != nil {
		return err
	}
	defer done()

	switch sub {
	case "create":
		creds, err := svc.Create(ctx, name)
		if err != nil {
			return err
		}
		e.printCredentials(creds, *asJSON, "Created app")
	case "list":
		list, err := svc.List(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return e.printJSON(orEmpty(list))
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "APP ID\tNAME\tKEY\tCREATED")
		for _, a := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.ID, a.Name, a.Key, a.CreatedAt.Format("2006-01-02 15:04:05Z07:00"))
		}
		return tw.Flush()
	case "rotate-secret":
		secret, err := svc.RotateSecret(ctx, rest[0])
		if err != nil {
			return err
		}
		if *asJSON {
			return e.printJSON(map[string]string{"appId": rest[0], "secret": secret})
		}
		fmt.Fprintf(e.stdout, "New secret of app %s (not shown again): %s\n", rest[0], secret)
	case "delete":
		if err := svc.Delete(ctx, rest[0]); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "Deleted app %s\n", rest[0])
	}
	return nil
}

func (e env) appKeys(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: apps keys needs a subcommand: create, list, revoke ('pushgate apps keys --help')", errUsage)
	}
	if isHelp(args[0]) {
		fmt.Fprint(e.stdout, appKeysUsage)
		return nil
	}
	sub := args[0]
	var synopsis string
	var nargs int
	switch sub {
	case "create":
		synopsis, nargs = "apps keys create APP_ID [--name NAME] [--role standard|admin] [--json] [flags]", 1
	case "list":
		synopsis, nargs = "apps keys list APP_ID [--json] [flags]", 1
	case "revoke":
		synopsis, nargs = "apps keys revoke APP_ID KEY_ID [--force] [flags]", 2
	default:
		return fmt.Errorf("%w: unknown apps keys subcommand %q", errUsage, sub)
	}
	fs := e.newFlagSet("apps keys "+sub, synopsis)
	sf := addSettingFlags(fs, storageSettings...)
	name, role, force := "", "", false
	switch sub {
	case "create":
		fs.StringVar(&name, "name", "", "a label for the key")
		// Standard, as in the API: the key a backend needs. Admin keys
		// (which manage keys) are asked for by name.
		fs.StringVar(&role, "role", string(apps.RoleStandard), "standard (use the API) or admin (also manage the app's API keys)")
	case "revoke":
		fs.BoolVar(&force, "force", false, "revoke even the app's last admin key")
	}
	asJSON := fs.Bool("json", false, "print JSON")
	svc, done, rest, err := e.openApps(ctx, fs, sf, args[1:], nargs, synopsis)
	if err != nil {
		return err
	}
	defer done()
	appID := rest[0]

	switch sub {
	case "create":
		if !apps.Role(role).Valid() {
			return fmt.Errorf("%w: --role must be standard or admin, got %q", errUsage, role)
		}
		k, plain, err := svc.CreateKey(ctx, appID, name, apps.Role(role))
		if err != nil {
			return err
		}
		if *asJSON {
			return e.printJSON(map[string]string{"id": k.ID, "appId": appID, "name": k.Name, "role": string(k.Role), "apiKey": plain})
		}
		fmt.Fprintf(e.stdout, "%s API key %s of app %s (not shown again): %s\n", k.Role, k.ID, appID, plain)
	case "list":
		return e.listKeys(ctx, svc, appID, *asJSON)
	case "revoke":
		return e.revokeKey(ctx, svc, appID, rest[1], force)
	}
	return nil
}

func (e env) listKeys(ctx context.Context, svc *apps.Service, appID string, asJSON bool) error {
	if _, err := svc.Get(ctx, appID); err != nil {
		return err
	}
	keys, err := svc.ListKeys(ctx, appID)
	if err != nil {
		return err
	}
	if asJSON {
		return e.printJSON(keys)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY ID\tNAME\tROLE\tSTARTS WITH\tCREATED")
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s…\t%s\n", k.ID, k.Name, k.Role, k.Prefix, k.CreatedAt.Format("2006-01-02 15:04:05Z07:00"))
	}
	return tw.Flush()
}

func (e env) revokeKey(ctx context.Context, svc *apps.Service, appID, keyID string, force bool) error {
	revoke := svc.RevokeKey
	if force {
		revoke = svc.ForceRevokeKey
	}
	err := revoke(ctx, appID, keyID)
	if errors.Is(err, apps.ErrLastAdmin) {
		return fmt.Errorf("API key %s is the last admin key of app %s: nothing could manage its keys through the API after it; revoke it anyway with --force (`pushgate apps keys create %[2]s --role admin` makes another)", keyID, appID)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Revoked API key %s of app %s\n", keyID, appID)
	return nil
}

// openApps parses the command line, checks the count of positional
// arguments and opens the app service.
func (e env) openApps(ctx context.Context, fs *flag.FlagSet, sf *settingFlags, args []string, nargs int, synopsis string) (*apps.Service, func(), []string, error) {
	rest, err := e.parse(fs, args)
	if err != nil {
		return nil, nil, nil, err
	}
	if len(rest) != nargs {
		return nil, nil, nil, fmt.Errorf("%w: pushgate %s", errUsage, synopsis)
	}
	cfg, err := e.storageConfig(sf)
	if err != nil {
		return nil, nil, nil, err
	}
	svc, done, err := server.OpenApps(ctx, cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	return svc, done, rest, nil
}

// storageConfig resolves the settings of a command that opens the
// database. Only serve creates the data folder: elsewhere a folder that is
// not there is a mistyped --data-dir or a command run from the wrong
// place, and would otherwise leave a new, empty installation behind.
func (e env) storageConfig(sf *settingFlags) (server.Config, error) {
	cfg, _, err := sf.resolve(e.getenv)
	if err != nil {
		return cfg, err
	}
	if strings.HasPrefix(cfg.DatabaseURL, "postgres://") || strings.HasPrefix(cfg.DatabaseURL, "postgresql://") {
		return cfg, nil
	}
	if _, err := os.Stat(cfg.DataDir); errors.Is(err, fs.ErrNotExist) {
		return cfg, fmt.Errorf("data folder %s does not exist: give the installation's --data-dir (or PUSHGATE_DATA_DIR); 'pushgate serve' creates it on its first start", cfg.DataDir)
	}
	return cfg, nil
}

func (e env) printJSON(v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

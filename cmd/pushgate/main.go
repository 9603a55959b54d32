// Command pushgate runs the push gateway and manages its installation.
//
//	pushgate serve                     run a node (API and worker)
//	pushgate migrate [up|status]       apply or list database migrations
//	pushgate apps ...                  manage apps and their API keys
//	pushgate send ...                  send one notification straight to a push service
//	pushgate vapid-keys                print a fresh VAPID key pair
//	pushgate version                   print the version
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/redis/go-redis/v9"

	"github.com/pushgate/pushgate"
)

func main() {
	// go-redis logs dial failures through a global logger; send them to
	// stderr with a prefix like every other line of ours.
	redis.SetLogger(redisLogger{})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type redisLogger struct{}

func (redisLogger) Printf(_ context.Context, format string, v ...any) {
	fmt.Fprintf(os.Stderr, "pushgate: redis: "+format+"\n", v...)
}

// env is what a command sees of the process: arguments aside, everything
// it reads or writes goes through here, so tests run commands in-process.
type env struct {
	getenv func(string) string
	stdout io.Writer
	stderr io.Writer
}

// errUsage marks errors the user fixes by reading --help (exit code 2).
var errUsage = errors.New("usage")

// errFailed is a command's failure that it has already reported on
// stdout (exit code 1, nothing more printed).
var errFailed = errors.New("failed")

const usage = `pushgate: a self-hosted push gateway (APNS, FCM, Web Push, WebSocket).

Usage:
  pushgate serve [flags]                      run a node (API and worker)
  pushgate migrate [up|status] [flags]        apply or list database migrations
  pushgate apps create --name NAME [--json]   create an app, print its credentials (an admin API key) once
  pushgate apps list [--json]                 list apps
  pushgate apps rotate-secret APP_ID [--json] give an app a new secret
  pushgate apps delete APP_ID                 delete an app and everything it owns
  pushgate apps keys create APP_ID [--name N] [--role standard|admin] [--json]
                                              add an API key (standard unless --role admin)
  pushgate apps keys list APP_ID [--json]     list an app's API keys and their roles
  pushgate apps keys revoke APP_ID KEY_ID [--force]
                                              revoke an API key (--force: even the last admin key)
  pushgate send --credential C --receiver R [--title T --body B | --context JSON [--kind K]] [--json]
                                              send one notification straight to its push service
                                              (no server needed) and print what it answered
  pushgate vapid-keys [--json]                print a fresh VAPID key pair
  pushgate version [--json]                   print the version

'pushgate COMMAND --help' lists a command's own flags. Every setting is
also read from its environment variable and from --config; see
'pushgate serve --help' and the README's configuration table.
`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	e := env{getenv: getenv, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = e.serve(ctx, args[1:])
	case "migrate":
		err = e.migrate(ctx, args[1:])
	case "apps":
		err = e.apps(ctx, args[1:])
	case "send":
		err = e.send(ctx, args[1:])
	case "vapid-keys":
		err = e.vapidKeys(args[1:])
	case "version", "--version", "-version":
		err = e.version(args[1:])
	case "help", "--help", "-help", "-h":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "pushgate: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errFailed):
		return 1
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "pushgate: %v\n", err)
		return 2
	default:
		fmt.Fprintf(stderr, "pushgate: %v\n", err)
		return 1
	}
}

// newFlagSet returns a flag set that reports errors instead of exiting.
// What it prints waits in a buffer: parse sends it to stdout when help
// was asked for, to stderr after a mistake.
func (e env) newFlagSet(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	out := &bytes.Buffer{}
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: pushgate %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags that may stand before, between or after positional
// arguments, and returns the positional ones.
func (e env) parse(fs *flag.FlagSet, args []string) ([]string, error) {
	positional, err := parseFlags(fs, args)
	if out, ok := fs.Output().(*bytes.Buffer); ok && out.Len() > 0 {
		w := e.stderr
		if errors.Is(err, flag.ErrHelp) {
			w = e.stdout
		}
		w.Write(out.Bytes())
		out.Reset()
	}
	return positional, err
}

func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		if args[0] == "--" {
			return append(positional, args[1:]...), nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}

// version prints the name and version, as JSON with --json.
func (e env) version(args []string) error {
	fs := e.newFlagSet("version", "version [--json]")
	asJSON := fs.Bool("json", false, `print {"name","version","go"}`)
	rest, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("%w: version takes no arguments", errUsage)
	}
	if *asJSON {
		return e.printJSON(map[string]string{"name": pushgate.Name, "version": pushgate.Version, "go": runtime.Version()})
	}
	fmt.Fprintf(e.stdout, "%s %s\n", pushgate.Name, pushgate.Version)
	return nil
}

// newLogger builds the process logger from the resolved settings.
func (e env) newLogger(o options) *slog.Logger {
	level := map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}[o.logLevel]
	hopts := &slog.HandlerOptions{Level: level}
	if o.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(e.stderr, hopts))
	}
	return slog.New(slog.NewTextHandler(e.stderr, hopts))
}

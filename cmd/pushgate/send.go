package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/contexts"
	"github.com/pushgate/pushgate/server"
)

// sendSettings are the settings that decide how pushgate send reaches the
// push services.
var sendSettings = []string{"apns_host", "fcm_endpoint", "webpush_allow_http", "hms_allow_http", "ssrf_allow", "vapid_subject", "public_url"}

const sendSynopsis = `send --credential C --receiver R [--title T --body B | --context JSON [--kind K]] [--json] [flags]

Sends one notification straight to its push service (APNS, FCM, HMS or Web
Push), with no server, database or queue, and prints what the service
answered: to try a credential or a device. Exits 0 when the service accepted
the notification, 1 when it refused it, 2 when the input is invalid.

C and R are JSON as the REST API takes them, given inline or as @FILE (@-
reads standard input):
  C  one entry of a bucket's providerCredentials: {"type": "apns_token", "payload": {...}}
  R  one receiver of a send, without credentialId: {"token": "..."}, or a
     Web Push subscription {"endpoint": "...", "p256dh": "...", "auth": "..."}
     (a browser's PushSubscription JSON, with "keys", is taken as it is)`

// send is 'pushgate send'.
func (e env) send(ctx context.Context, args []string) error {
	fs := e.newFlagSet("send", sendSynopsis)
	sf := addSettingFlags(fs, sendSettings...)
	credArg := fs.String("credential", "", "the credential, JSON or @FILE (required)")
	recvArg := fs.String("receiver", "", "the receiver, JSON or @FILE (required)")
	title := fs.String("title", "pushgate", "title of a data context (without --context)")
	body := fs.String("body", "A test notification from pushgate send", "body of a data context (without --context)")
	ctxArg := fs.String("context", "", "the context's JSON or @FILE, as POST /v1/bucket/{id}/context/{kind} takes it (instead of --title and --body)")
	kind := fs.String("kind", "data", "kind of --context: data, raw or silent")
	asJSON := fs.Bool("json", false, "print the outcome as JSON")
	rest, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 || *credArg == "" || *recvArg == "" {
		return fmt.Errorf("%w: send needs --credential and --receiver ('pushgate send --help')", errUsage)
	}
	req := server.OneSend{Kind: contexts.Kind(*kind)}
	if !req.Kind.Valid() {
		return fmt.Errorf("%w: --kind must be data, raw or silent", errUsage)
	}
	if req.Credential, err = jsonArg("--credential", *credArg); err != nil {
		return err
	}
	if req.Receiver, err = jsonArg("--receiver", *recvArg); err != nil {
		return err
	}
	req.Receiver = flattenSubscription(req.Receiver)
	if *ctxArg != "" {
		if req.Context, err = jsonArg("--context", *ctxArg); err != nil {
			return err
		}
	} else if req.Kind == contexts.KindData {
		req.Context, _ = json.Marshal(map[string]string{"title": *title, "body": *body})
	} else {
		return fmt.Errorf("%w: --kind %s needs --context", errUsage, *kind)
	}
	cfg, _, err := sf.resolve(e.getenv)
	if err != nil {
		return err
	}
	res, err := server.SendOne(ctx, cfg, req)
	if pushgate.ErrorCode(err) == pushgate.EINVALID {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if err != nil {
		return err
	}
	return e.printOutcome(res, *asJSON)
}

// printOutcome prints what the push service answered; a refusal is the
// command's failure.
func (e env) printOutcome(res *server.OneResult, asJSON bool) error {
	if asJSON {
		if err := e.printJSON(res); err != nil {
			return err
		}
	} else if res.Status == "sent" {
		fmt.Fprintf(e.stdout, "sent: %s accepted message %s in %d ms\n", res.Provider, res.MessageID, res.Millis)
	} else {
		kind := "transient: sending again later may work"
		if res.Permanent {
			kind = "permanent"
		}
		fmt.Fprintf(e.stdout, "failed: %s refused message %s: %s (%s)", res.Provider, res.MessageID, res.Reason, kind)
		if res.HTTP != 0 {
			fmt.Fprintf(e.stdout, ", HTTP %d", res.HTTP)
		}
		if res.Error != "" {
			fmt.Fprintf(e.stdout, "\n  %s", res.Error)
		}
		fmt.Fprintln(e.stdout)
	}
	if res.Status != "sent" {
		return errFailed
	}
	return nil
}

// jsonArg reads a JSON argument given inline or as @FILE (@- is stdin).
func jsonArg(name, v string) (json.RawMessage, error) {
	b := []byte(v)
	if path, ok := strings.CutPrefix(v, "@"); ok {
		var err error
		if path == "-" {
			b, err = io.ReadAll(os.Stdin)
		} else {
			b, err = os.ReadFile(path)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	if !json.Valid(b) {
		return nil, fmt.Errorf("%w: %s is not JSON (give the JSON itself, or @FILE)", errUsage, name)
	}
	return b, nil
}

// flattenSubscription turns a browser's PushSubscription JSON
// ({"endpoint", "keys": {"p256dh", "auth"}}) into a receiver; anything
// else stays as it is.
func flattenSubscription(raw json.RawMessage) json.RawMessage {
	var sub struct {
		Endpoint string `json:"endpoint"`
		Keys     *struct {
			P256dh string `json:"p256dh"`
			Auth   string `json:"auth"`
		} `json:"keys"`
	}
	if json.Unmarshal(raw, &sub) != nil || sub.Keys == nil || sub.Endpoint == "" {
		return raw
	}
	out, _ := json.Marshal(map[string]string{"endpoint": sub.Endpoint, "p256dh": sub.Keys.P256dh, "auth": sub.Keys.Auth})
	return out
}

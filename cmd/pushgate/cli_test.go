package main

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pushgate/pushgate"
)

// pushgateCmd runs one CLI command in-process and returns its exit code
// and output.
func pushgateCmd(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, envMap(env), &out, &errb)
	return code, out.String(), errb.String()
}

func TestAppsCommands(t *testing.T) {
	for name, env := range backends(t) {
		t.Run(name, func(t *testing.T) {
			env["PUSHGATE_FIRST_APP_NAME"] = ""
			code, out, stderr := pushgateCmd(t, env, "apps", "create", "--name", "shop", "--json")
			if code != 0 {
				t.Fatalf("apps create: %d %s", code, stderr)
			}
			creds := parseCredentials(t, out)

			code, out, _ = pushgateCmd(t, env, "apps", "list", "--json")
			var list []map[string]any
			if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 1 || list[0]["appId"] != creds.AppID || list[0]["name"] != "shop" {
				t.Fatalf("apps list: %d %s", code, out)
			}
			if strings.Contains(out, creds.Secret) {
				t.Fatal("apps list shows the secret")
			}
			if code, out, _ = pushgateCmd(t, env, "apps", "list"); code != 0 || !strings.Contains(out, creds.AppID) || !strings.Contains(out, "shop") {
				t.Fatalf("apps list (text): %s", out)
			}

			// Flags may follow positional arguments.
			code, out, stderr = pushgateCmd(t, env, "apps", "keys", "create", creds.AppID, "--name", "ci", "--json")
			var key map[string]string
			if code != 0 || json.Unmarshal([]byte(out), &key) != nil || !strings.HasPrefix(key["apiKey"], "pgk_") {
				t.Fatalf("keys create: %d %s %s", code, out, stderr)
			}
			if key["role"] != "standard" {
				t.Fatalf("keys create without --role made a %q key", key["role"])
			}
			code, out, _ = pushgateCmd(t, env, "apps", "keys", "list", creds.AppID, "--json")
			if code != 0 || strings.Count(out, `"id"`) != 2 || strings.Contains(out, key["apiKey"]) || strings.Count(out, `"role": "admin"`) != 1 {
				t.Fatalf("keys list: %s", out)
			}
			if code, out, _ = pushgateCmd(t, env, "apps", "keys", "list", creds.AppID); code != 0 || !strings.Contains(out, "ROLE") || !strings.Contains(out, "standard") {
				t.Fatalf("keys list (text): %s", out)
			}
			if code, _, _ = pushgateCmd(t, env, "apps", "keys", "revoke", creds.AppID, key["id"]); code != 0 {
				t.Fatal("keys revoke failed")
			}
			if code, _, stderr = pushgateCmd(t, env, "apps", "keys", "revoke", creds.AppID, key["id"]); code != 1 || !strings.Contains(stderr, "not found") {
				t.Fatalf("second revoke: %d %s", code, stderr)
			}

			// The app's own key is its last admin key: revoking it takes --force.
			var listed []map[string]any
			_, out, _ = pushgateCmd(t, env, "apps", "keys", "list", creds.AppID, "--json")
			json.Unmarshal([]byte(out), &listed)
			adminID := listed[0]["id"].(string)
			if code, _, stderr = pushgateCmd(t, env, "apps", "keys", "revoke", creds.AppID, adminID); code != 1 || !strings.Contains(stderr, "last admin key") || !strings.Contains(stderr, "--force") {
				t.Fatalf("revoking the last admin key: %d %s", code, stderr)
			}
			code, out, stderr = pushgateCmd(t, env, "apps", "keys", "create", creds.AppID, "--role", "admin", "--json")
			if code != 0 || json.Unmarshal([]byte(out), &key) != nil || key["role"] != "admin" {
				t.Fatalf("keys create --role admin: %d %s %s", code, out, stderr)
			}
			if code, _, stderr = pushgateCmd(t, env, "apps", "keys", "revoke", creds.AppID, adminID); code != 0 {
				t.Fatalf("revoking one of two admin keys: %d %s", code, stderr)
			}
			if code, _, stderr = pushgateCmd(t, env, "apps", "keys", "revoke", creds.AppID, key["id"], "--force"); code != 0 {
				t.Fatalf("forced revoke of the last admin key: %d %s", code, stderr)
			}
			if code, _, _ = pushgateCmd(t, env, "apps", "keys", "create", creds.AppID, "--role", "root"); code != 2 {
				t.Fatalf("keys create --role root: exit %d, want 2", code)
			}

			code, out, _ = pushgateCmd(t, env, "apps", "rotate-secret", creds.AppID, "--json")
			var rotated map[string]string
			if code != 0 || json.Unmarshal([]byte(out), &rotated) != nil || rotated["secret"] == "" || rotated["secret"] == creds.Secret {
				t.Fatalf("rotate-secret: %s", out)
			}

			if code, _, _ = pushgateCmd(t, env, "apps", "delete", creds.AppID); code != 0 {
				t.Fatal("delete failed")
			}
			if code, _, stderr = pushgateCmd(t, env, "apps", "keys", "list", creds.AppID); code != 1 || !strings.Contains(stderr, "app not found") {
				t.Fatalf("keys list of a deleted app: %d %s", code, stderr)
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	env := map[string]string{"PUSHGATE_DATA_DIR": t.TempDir()}
	for _, args := range [][]string{
		{},
		{"bogus"},
		{"apps"},
		{"apps", "frobnicate"},
		{"apps", "keys"},
		{"apps", "delete"},
		{"apps", "keys", "revoke", "only-one"},
		{"apps", "create", "--nope"},
		{"migrate", "sideways"},
		{"vapid-keys", "extra"},
	} {
		if code, _, _ := pushgateCmd(t, env, args...); code != 2 {
			t.Errorf("pushgate %v: exit %d, want 2", args, code)
		}
	}
	if code, _, stderr := pushgateCmd(t, env, "apps", "create", "--name", ""); code != 1 || !strings.Contains(stderr, "name") {
		t.Errorf("apps create without a name: %d %s", code, stderr)
	}
}

// --help of every command and subcommand exits 0, prints to stdout, and
// lists that command's own flags: serve every setting, the commands that
// only open the database the storage settings, send how it reaches the
// push services.
func TestHelp(t *testing.T) {
	own := map[string][]string{"serve": nil, "migrate": storageSettings, "apps create": storageSettings,
		"apps keys list": storageSettings, "apps keys revoke": storageSettings, "send": sendSettings}
	for cmd, keys := range own {
		code, out, stderr := pushgateCmd(t, nil, append(strings.Fields(cmd), "--help")...)
		if code != 0 || stderr != "" || !strings.HasPrefix(out, "Usage: pushgate "+cmd) {
			t.Errorf("%s --help: exit %d, stdout %.60q, stderr %.60q", cmd, code, out, stderr)
		}
		for _, s := range settings {
			listed := strings.Contains(out, "  -"+s.flag()+" ") || strings.Contains(out, "  -"+s.flag()+"\n")
			if want := keys == nil || slices.Contains(keys, s.key); listed != want || want && !strings.Contains(out, s.env()) {
				t.Errorf("%s --help: --%s listed %v, want %v", cmd, s.flag(), listed, want)
			}
		}
	}
	// Booleans are booleans: no value to give, and none shown.
	_, out, _ := pushgateCmd(t, nil, "serve", "--help")
	for _, f := range []string{"access-log", "webpush-allow-http", "hms-allow-http"} {
		if !strings.Contains(out, "  -"+f+"\n") {
			t.Errorf("serve --help shows --%s with a value", f)
		}
	}
	for _, args := range [][]string{{"apps", "--help"}, {"apps", "keys", "-h"}, {"help"}} {
		code, out, _ := pushgateCmd(t, nil, args...)
		if code != 0 || !strings.Contains(out, "revoke") {
			t.Errorf("%v: %d %s", args, code, out)
		}
	}
	if code, out, _ := pushgateCmd(t, nil, "version"); code != 0 || strings.TrimSpace(out) != "pushgate "+pushgate.Version {
		t.Errorf("version: %q", out)
	}
	var v struct{ Name, Version, Go string }
	if code, out, _ := pushgateCmd(t, nil, "version", "--json"); code != 0 || json.Unmarshal([]byte(out), &v) != nil || v.Name != "pushgate" || v.Version != pushgate.Version || v.Go == "" {
		t.Errorf("version --json: %q", out)
	}
	// A mistake prints the usage to stderr, and exits 2.
	if code, out, stderr := pushgateCmd(t, nil, "migrate", "--worker-concurrency", "3"); code != 2 || out != "" || !strings.Contains(stderr, "Usage: pushgate migrate") {
		t.Errorf("migrate with a serve flag: %d %q %q", code, out, stderr)
	}
}

// A boolean setting's flag takes no value, or an explicit one.
func TestBooleanSettingFlags(t *testing.T) {
	for args, want := range map[string]bool{"": false, "--webpush-allow-http": true, "--webpush-allow-http=false": false, "--webpush-allow-http=1": true} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		sf := addSettingFlags(fs)
		if _, err := parseFlags(fs, strings.Fields(args)); err != nil {
			t.Fatal(err)
		}
		cfg, _, err := sf.resolve(envMap(map[string]string{"PUSHGATE_DATA_DIR": t.TempDir()}))
		if err != nil || cfg.WebPushAllowHTTP != want {
			t.Errorf("%q: %v %v, want %v", args, cfg.WebPushAllowHTTP, err, want)
		}
	}
	if code, _, stderr := pushgateCmd(t, nil, "serve", "--access-log=maybe"); code != 2 || !strings.Contains(stderr, "want true or false") {
		t.Errorf("--access-log=maybe: %d %s", code, stderr)
	}
}

// Only serve creates the data folder: the other commands refuse one that
// is not there, and leave nothing behind.
func TestStorageCommandsNeedTheDataFolder(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nowhere")
	for _, args := range [][]string{{"migrate"}, {"apps", "list"}, {"apps", "create", "--name", "x"}, {"apps", "keys", "list", "app"}} {
		code, _, stderr := pushgateCmd(t, map[string]string{"PUSHGATE_DATA_DIR": missing}, args...)
		if code != 1 || !strings.Contains(stderr, "data folder "+missing+" does not exist") {
			t.Errorf("%v: %d %s", args, code, stderr)
		}
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Fatalf("a command created the data folder: %v", err)
	}
}

func TestMigrateCommand(t *testing.T) {
	env := map[string]string{"PUSHGATE_DATA_DIR": t.TempDir()}
	code, out, _ := pushgateCmd(t, env, "migrate", "status")
	if code != 0 || !strings.Contains(out, "pending") || strings.Contains(out, "applied ") {
		t.Fatalf("status before: %s", out)
	}
	pending := strings.Count(out, "pending")
	if code, out, _ = pushgateCmd(t, env, "migrate", "up"); code != 0 || !strings.Contains(out, fmt.Sprintf("applied %d migration", pending)) {
		t.Fatalf("up: %s", out)
	}
	if code, out, _ = pushgateCmd(t, env, "migrate"); code != 0 || !strings.Contains(out, "applied 0 migration") {
		t.Fatalf("second up: %s", out)
	}
	if code, out, _ = pushgateCmd(t, env, "migrate", "status"); code != 0 || strings.Contains(out, "pending") {
		t.Fatalf("status after: %s", out)
	}
}

func TestVapidKeys(t *testing.T) {
	code, out, _ := pushgateCmd(t, nil, "vapid-keys", "--json")
	var keys map[string]string
	if code != 0 || json.Unmarshal([]byte(out), &keys) != nil {
		t.Fatalf("vapid-keys: %d %s", code, out)
	}
	pub, err1 := base64.RawURLEncoding.DecodeString(keys["publicKey"])
	priv, err2 := base64.RawURLEncoding.DecodeString(keys["privateKey"])
	if err1 != nil || err2 != nil || len(pub) != 65 || pub[0] != 4 || len(priv) != 32 {
		t.Fatalf("keys %v", keys)
	}
	k, err := ecdh.P256().NewPrivateKey(priv)
	if err != nil || !bytes.Equal(k.PublicKey().Bytes(), pub) {
		t.Fatal("public key does not belong to the private key")
	}
	if code, out, _ := pushgateCmd(t, nil, "vapid-keys"); code != 0 || !strings.Contains(out, "Public key:") {
		t.Fatalf("text: %s", out)
	}
}

func resolveWith(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	sf := addSettingFlags(fs)
	if _, err := parseFlags(fs, args); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := sf.resolve(envMap(env))
	return cfg.HTTPAddr, err
}

// Flags beat the environment, which beats the file, which beats defaults.
func TestSettingsPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pushgate.yaml")
	os.WriteFile(file, []byte("http_addr: \":7001\"\nroles: [api, worker]\naccess_log: false\n"), 0o600)

	if addr, _ := resolveWith(t, nil); addr != ":8080" {
		t.Errorf("default = %s", addr)
	}
	if addr, _ := resolveWith(t, nil, "--config", file); addr != ":7001" {
		t.Errorf("file = %s", addr)
	}
	if addr, _ := resolveWith(t, map[string]string{"PUSHGATE_CONFIG": file}); addr != ":7001" {
		t.Errorf("file from PUSHGATE_CONFIG = %s", addr)
	}
	env := map[string]string{"PUSHGATE_HTTP_ADDR": ":7002"}
	if addr, _ := resolveWith(t, env, "--config", file); addr != ":7002" {
		t.Errorf("env over file = %s", addr)
	}
	if addr, _ := resolveWith(t, env, "--config", file, "--http-addr", ":7003"); addr != ":7003" {
		t.Errorf("flag over env = %s", addr)
	}

	os.WriteFile(file, []byte("http_adr: \":1\"\n"), 0o600)
	if _, err := resolveWith(t, nil, "--config", file); err == nil || !strings.Contains(err.Error(), "unknown settings: http_adr") {
		t.Errorf("unknown key: %v", err)
	}
	os.WriteFile(file, []byte("worker_concurrency: lots\n"), 0o600)
	if _, err := resolveWith(t, nil, "--config", file); err == nil || !strings.Contains(err.Error(), "worker_concurrency (from config file") {
		t.Errorf("bad value from file: %v", err)
	}
}

func TestSecretsFromFiles(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "mk")
	key := pushgate.NewMasterKey()
	os.WriteFile(keyFile, []byte(key+"\n"), 0o600)
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	sf := addSettingFlags(fs)
	cfg, _, err := sf.resolve(envMap(map[string]string{"PUSHGATE_MASTER_KEY_FILE": keyFile}))
	if err != nil || cfg.MasterKey != key {
		t.Fatalf("master key from file = %q, %v", cfg.MasterKey, err)
	}
	_, _, err = sf.resolve(envMap(map[string]string{"PUSHGATE_MASTER_KEY_FILE": keyFile, "PUSHGATE_MASTER_KEY": key}))
	if err == nil || !strings.Contains(err.Error(), "both") {
		t.Fatalf("both set: %v", err)
	}
	_, _, err = sf.resolve(envMap(map[string]string{"PUSHGATE_DATABASE_URL_FILE": filepath.Join(dir, "missing")}))
	if err == nil || !strings.Contains(err.Error(), "database_url") {
		t.Fatalf("missing file: %v", err)
	}
}

// The README's configuration table lists every setting with its default.
func TestREADMEListsEverySetting(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, s := range settings {
		row := ""
		for _, line := range strings.Split(readme, "\n") {
			if strings.HasPrefix(line, "| `"+s.env()+"`") {
				row = line
			}
		}
		if row == "" {
			t.Errorf("README has no table row for %s", s.env())
			continue
		}
		def := "`" + s.def + "`"
		if s.def == "" {
			def = "(empty)"
		}
		if !strings.Contains(row, def) || !strings.Contains(row, "`"+s.key+"`") || !strings.Contains(row, "--"+s.flag()) {
			t.Errorf("README row for %s does not show default %s, key %s and flag --%s: %s", s.env(), def, s.key, s.flag(), row)
		}
	}
}

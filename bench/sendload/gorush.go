package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/pushgate/pushgate/bench/internal/procstat"
	"github.com/pushgate/pushgate/providers/providertest"
)

// gorushConfig is the configuration file sendload gives gorush: its
// defaults, but listening on loopback, iOS on with the fake's trusted
// provider key, Android off (it needs a credential to start), and its logs
// in files.
const gorushConfig = `core:
  address: "127.0.0.1"
  port: "%d"
  mode: "release"
  max_notification: %d
android:
  enabled: false
ios:
  enabled: true
  key_path: %q
  key_type: "p8"
  key_id: %q
  team_id: %q
  production: false
log:
  access_log: %q
  error_log: %q
stat:
  engine: "memory"
`

// startGorush runs the gorush binary built by gorush.sh against the fake:
// GORUSH_APNS_HOST is the fake's URL, SSL_CERT_FILE its certificate.
func startGorush(t *tb, o options, f *fakeProc, perRequest int) *proc {
	if _, err := os.Stat(o.gorushBin); err != nil {
		t.Fatalf("-gorush-bin: %v (build it with bench/sendload/gorush.sh)", err)
	}
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "apns.p8")
	if err := os.WriteFile(keyPath, []byte(f.P8), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	cfg := fmt.Sprintf(gorushConfig, port, perRequest, keyPath, f.KeyID, f.TeamID, filepath.Join(dir, "access.log"), filepath.Join(dir, "error.log"))
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(o.gorushBin, "-c", cfgPath)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GORUSH_APNS_HOST="+f.APNS, "SSL_CERT_FILE="+f.certFile)
	return start(t, cmd, fmt.Sprintf("http://127.0.0.1:%d", port), "/healthz", filepath.Join(dir, "stderr.log"))
}

// runGorush measures gorush: POST /api/push with -gorush-notifications
// notifications of -gorush-tokens device tokens each (fewer notifications
// if -n is smaller than one request).
func runGorush(t *tb, o options, f *fakeProc) {
	perRequest := max(1, min(o.gorushNotes, o.n/o.gorushToks))
	requests := o.n / (perRequest * o.gorushToks)
	total := int64(requests * perRequest * o.gorushToks)
	g := startGorush(t, o, f, perRequest)
	c := &client{base: g.base, header: http.Header{}, http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	bodies := make([][]byte, o.senders)
	for s := range bodies {
		bodies[s] = gorushBody(t, perRequest, o.gorushToks)
	}
	w := watched{node: g.pid, fake: f.pid}
	fmt.Printf("gorush:    %s, fake %s (latency %v)\n", o.gorushBin, o.fake, o.latency)
	fmt.Printf("sends:     %d requests of %d notifications × %d tokens from %d concurrent senders\n", requests, perRequest, o.gorushToks, o.senders)
	before, cpu0 := f.counts(t).delivered("apns"), w.read()
	start := time.Now()
	latencies, _ := sendAll(t, o.senders, requests, func(s int) []byte {
		return c.postRaw(t, "/api/push", bodies[s])
	}, false)
	end := f.waitDelivered(t, "apns", before, total, 60*time.Second)
	time.Sleep(o.settle)
	r := result{label: orDefault(o.label, "gorush"), pushes: total, elapsed: end.Sub(start), latencies: latencies, cpu: used(cpu0, w.read()), w: w}
	r.peakKiB, _ = procstat.StatusKiB(g.pid, "VmHWM")
	r.print()
}

// gorushBody is one POST /api/push body: notes iOS notifications to toks
// device tokens each, all distinct.
func gorushBody(t *tb, notes, toks int) []byte {
	type notification struct {
		Tokens   []string `json:"tokens"`
		Platform int      `json:"platform"`
		Title    string   `json:"title"`
		Message  string   `json:"message"`
		Topic    string   `json:"topic"`
	}
	ns := make([]notification, notes)
	for i := range ns {
		ns[i] = notification{Platform: 1, Title: "Load test", Message: "Hello from sendload", Topic: "com.example.bench"}
		for range toks {
			ns[i].Tokens = append(ns[i].Tokens, providertest.APNSTestDeviceToken(t))
		}
	}
	body, _ := json.Marshal(map[string]any{"notifications": ns})
	return body
}

package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/pushgate/pushgate"
)

// proc is a server this tool started: pushgate or gorush.
type proc struct {
	cmd  *exec.Cmd
	pid  int
	base string // http://127.0.0.1:PORT
	log  string // its standard error, or its log file
	// pprof is where pushgate serves its profiles (with -node-profile).
	pprof string
	mu    sync.Mutex
	out   bytes.Buffer // its standard output
}

// start runs cmd with its standard output kept and its standard error in
// logFile, and waits until base+ready answers 200.
func start(t *tb, cmd *exec.Cmd, base, ready, logFile string) *proc {
	p := &proc{cmd: cmd, base: base, log: logFile}
	errf, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = &lockedWriter{p: p}, errf
	// A load tool killed outright takes its server along (Linux only, as
	// is /proc).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.pid = cmd.Process.Pid
	exited := make(chan struct{})
	go func() { cmd.Wait(); errf.Close(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if res, err := http.Get(base + ready); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return p
			}
		}
		select {
		case <-exited:
			t.Fatalf("%s ended at start:\n%s", cmd.Path, tail(logFile))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after 60s:\n%s", cmd.Path, tail(logFile))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type lockedWriter struct{ p *proc }

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.out.Write(b)
}

func (p *proc) stdout() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func tail(file string) string {
	b, _ := os.ReadFile(file)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// freePort is a loopback port nothing listens on now.
func freePort(t *tb) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// pushgateBinary is -pushgate-bin, or pushgate built into a temporary
// folder from the repository this runs in, with the pprof tag (its
// profiles are served only when PUSHGATE_PPROF_ADDR is set).
func pushgateBinary(t *tb, o options) string {
	if o.bin != "" {
		return o.bin
	}
	bin := filepath.Join(t.TempDir(), "pushgate")
	cmd := exec.Command("go", "build", "-tags", "pprof", "-o", bin, "./cmd/pushgate")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build ./cmd/pushgate (run sendload from the repository, or give -pushgate-bin): %v", err)
	}
	return bin
}

// nodeEnv is the configuration of the node: the storage and queue of o,
// the push hosts replaced by the fakes, and no limit that one load client
// on one address would hit.
func nodeEnv(t *tb, o options, f *fakeProc, port int, pprof string) []string {
	env := append(os.Environ(),
		"PUSHGATE_DATA_DIR="+t.TempDir(), "PUSHGATE_HTTP_ADDR=127.0.0.1:"+strconv.Itoa(port),
		"PUSHGATE_DATABASE_URL="+o.db, "PUSHGATE_REDIS_URL="+o.redis,
		"PUSHGATE_ROLES="+o.roles, "PUSHGATE_QUEUE_NAMESPACE=sendload_"+pushgate.RandomToken(4),
		// The access log gives the node's own answer times (nodeAnswers);
		// client events would make a line each.
		"PUSHGATE_ACCESS_LOG="+strconv.FormatBool(!o.clientEv), "PUSHGATE_LOG_FORMAT=json",
		"PUSHGATE_WORKER_CONCURRENCY="+strconv.Itoa(o.workers),
		"PUSHGATE_DELIVERY_CONCURRENCY="+strconv.Itoa(o.concurrency),
		"PUSHGATE_DELIVERY_CHUNK_SIZE="+strconv.Itoa(o.chunk),
		"SSL_CERT_FILE="+f.certFile, "PUSHGATE_APNS_HOST="+f.APNS, "PUSHGATE_FCM_ENDPOINT="+f.FCM+"/v1",
		"PUSHGATE_WEBPUSH_ALLOW_HTTP=true", "PUSHGATE_SSRF_ALLOW=127.0.0.0/8",
		"PUSHGATE_VAPID_SUBJECT=mailto:bench@example.com",
		"PUSHGATE_EVENTS_RATE_PER_IP=0", "PUSHGATE_BUCKET_CREATE_RATE=0",
	)
	if pprof != "" {
		env = append(env, "PUSHGATE_PPROF_ADDR="+pprof)
	}
	if o.db != "" && os.Getenv("PUSHGATE_MASTER_KEY") == "" { // a database used before needs its own
		key := make([]byte, 32)
		rand.Read(key)
		env = append(env, "PUSHGATE_MASTER_KEY="+base64.StdEncoding.EncodeToString(key))
	}
	return env
}

var apiKeyRE = regexp.MustCompile(`"apiKey":\s*"([^"]+)"`)

// startNode runs `pushgate serve` and returns it with an API key: the first
// app's, or, on a database used before, a new app's.
func startNode(t *tb, o options, f *fakeProc) (*proc, string) {
	bin := pushgateBinary(t, o)
	port, pprof := freePort(t), ""
	if o.profile != "" {
		pprof = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	}
	env := nodeEnv(t, o, f, port, pprof)
	cmd := exec.Command(bin, "serve", "--json")
	cmd.Env = env
	p := start(t, cmd, fmt.Sprintf("http://127.0.0.1:%d", port), "/readyz", filepath.Join(t.TempDir(), "pushgate.log"))
	p.pprof = pprof
	if m := apiKeyRE.FindStringSubmatch(p.stdout()); m != nil {
		return p, m[1]
	}
	create := exec.Command(bin, "apps", "create", "--name", "sendload", "--json")
	create.Env = env
	out, err := create.CombinedOutput()
	m := apiKeyRE.FindSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("pushgate apps create: %v\n%s", err, out)
	}
	return p, string(m[1])
}

// profileNode saves the node's CPU profile of the next -node-profile-for
// to -node-profile; the returned func waits for it.
func profileNode(o options, node *proc) func() {
	if o.profile == "" {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		kind := "profile"
		if o.profileAllocs {
			kind = "allocs"
		}
		u := fmt.Sprintf("http://%s/debug/pprof/%s?seconds=%d", node.pprof, kind, max(1, int(o.profileFor.Seconds())))
		res, err := http.Get(u)
		if err != nil {
			fmt.Fprintln(os.Stderr, "sendload: node profile:", err)
			return
		}
		defer res.Body.Close()
		raw, err := io.ReadAll(res.Body)
		if err != nil || res.StatusCode != 200 {
			fmt.Fprintf(os.Stderr, "sendload: node profile: %v %d (is the binary built with -tags pprof?)\n", err, res.StatusCode)
			return
		}
		if err := os.WriteFile(o.profile, raw, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "sendload: node profile:", err)
		}
	}()
	return func() { <-done }
}

package chaos

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary builds cmd/pushgate once for the whole suite.
var binary struct {
	once sync.Once
	dir  string
	path string
	err  error
	out  []byte
}

func buildBinary(t *testing.T) string {
	t.Helper()
	binary.once.Do(func() {
		binary.dir, binary.err = os.MkdirTemp("", "pushgate-chaos-bin-")
		if binary.err != nil {
			return
		}
		binary.path = filepath.Join(binary.dir, "pushgate")
		args := append([]string{"build"}, strings.Fields(os.Getenv("PUSHGATE_TEST_BINARY_FLAGS"))...)
		cmd := exec.Command("go", append(args, "-o", binary.path, "github.com/pushgate/pushgate/cmd/pushgate")...)
		binary.out, binary.err = cmd.CombinedOutput()
	})
	if binary.err != nil {
		t.Fatalf("go build: %v\n%s", binary.err, binary.out)
	}
	return binary.path
}

// node is one pushgate process, which the test kills and starts again on
// the same address, database and Redis.
type node struct {
	t    *testing.T
	name string
	bin  string
	env  []string
	addr string
	cmd  *exec.Cmd
	logs *tail
	out  chan string // the first stdout line of the first start
}

// tailLines is how many log lines of a node a failed test shows
// (PUSHGATE_CHAOS_LOGS=1 shows them for every test, more of them).
var tailLines = 25

func init() {
	if os.Getenv("PUSHGATE_CHAOS_LOGS") != "" {
		tailLines = 400
	}
}

// tail keeps a process's last log lines.
type tail struct {
	mu    sync.Mutex
	lines []string
}

func (l *tail) add(s string) {
	l.mu.Lock()
	if l.lines = append(l.lines, s); len(l.lines) > tailLines {
		l.lines = l.lines[1:]
	}
	l.mu.Unlock()
}

func (l *tail) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

func newNode(t *testing.T, name string, env []string) *node {
	n := &node{t: t, name: name, bin: buildBinary(t), addr: fmt.Sprintf("127.0.0.1:%d", freePort(t)), logs: &tail{}}
	n.env = append(append([]string{"PUSHGATE_DATA_DIR=" + t.TempDir()}, env...), "PUSHGATE_HTTP_ADDR="+n.addr)
	t.Cleanup(func() {
		n.kill()
		if t.Failed() || os.Getenv("PUSHGATE_CHAOS_LOGS") != "" {
			t.Logf("node %s's last log lines:\n%s", n.name, n.logs)
		}
	})
	return n
}

func (n *node) base() string { return "http://" + n.addr }

// start runs `serve` and waits until it answers /healthz.
func (n *node) start() {
	n.t.Helper()
	n.cmd = exec.Command(n.bin, "serve", "--json")
	n.cmd.Env = append(os.Environ(), n.env...)
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // gone with a killed test
	stdout, _ := n.cmd.StdoutPipe()
	stderr, _ := n.cmd.StderrPipe()
	if err := n.cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	out := make(chan string, 1)
	go func() {
		first, _ := bufio.NewReader(stdout).ReadString('\n')
		out <- first
		io.Copy(io.Discard, stdout)
	}()
	if n.out == nil {
		n.out = out
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			n.logs.add(sc.Text())
		}
		io.Copy(io.Discard, stderr)
	}()
	waitFor(n.t, 60*time.Second, func() bool {
		res, err := http.Get(n.base() + "/healthz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == 200
	}, "node "+n.name+" to answer /healthz")
}

// kill ends the process with SIGKILL, if it runs.
func (n *node) kill() {
	if n.cmd != nil && n.cmd.Process != nil {
		n.cmd.Process.Kill()
		n.cmd.Wait()
		n.cmd = nil
	}
}

type credentials struct{ AppID, APIKey string }

// credentials reads the first app's credentials the first start printed.
func (n *node) credentials() credentials {
	n.t.Helper()
	var c credentials
	select {
	case line := <-n.out:
		if json.Unmarshal([]byte(line), &c) != nil || c.APIKey == "" {
			n.t.Fatalf("no credentials in %q", line)
		}
	case <-time.After(30 * time.Second):
		n.t.Fatal("the first start printed no credentials")
	}
	return c
}

// client has a timeout: a node in trouble must not hang the suite.
var client = &http.Client{Timeout: 30 * time.Second}

// answer is one API answer.
type answer struct {
	status     int
	retryAfter string
	body       []byte
	err        error
}

func (n *node) do(key, method, path string, body any) answer {
	raw, _ := json.Marshal(body)
	if s, ok := body.(string); ok {
		raw = []byte(s)
	}
	req, _ := http.NewRequest(method, n.base()+path, bytes.NewReader(raw))
	req.Header.Set("x-token", key)
	req.Header.Set("Content-Type", "application/json")
	res, err := client.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return answer{status: res.StatusCode, retryAfter: res.Header.Get("Retry-After"), body: b}
}

// call is do for setup steps that must succeed.
func (n *node) call(key, method, path string, body, out any) {
	n.t.Helper()
	a := n.do(key, method, path, body)
	if a.err != nil || a.status >= 300 {
		n.t.Fatalf("%s %s: %d %v %s", method, path, a.status, a.err, a.body)
	}
	if out != nil {
		if err := json.Unmarshal(a.body, out); err != nil {
			n.t.Fatalf("%s %s: %v in %s", method, path, err, a.body)
		}
	}
}

func waitFor(t *testing.T, d time.Duration, ok func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

package main

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// clients is test/js/live-clients.mjs: npm's ws, eventsource and
// standardwebhooks, steered one command at a time. What they observe is
// queued per client name.
type clients struct {
	t     *testing.T
	stdin io.WriteCloser

	mu     sync.Mutex
	cond   *sync.Cond
	queues map[string][]observation
	ended  bool
}

// observation is one line the script prints.
type observation struct {
	Name, Kind string
	Status     int
	Code       int
	Frame      frame
	// EventSource: the event's type, id and data; connect's Last-Event-ID.
	Event, ID   string
	Data        frame
	LastEventID string
	Message     string
	// The webhook receiver.
	URL            string
	OK             bool
	TamperedPassed bool
	Error          string
	Events         []struct{ MessageID, ForeignID, Kind string }
}

func startClients(t *testing.T, packages ...string) *clients {
	t.Helper()
	node := nodeWith(t, packages...)
	cmd := exec.Command(node, filepath.Join("..", "..", "test", "js", "live-clients.mjs"))
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &clients{t: t, stdin: stdin, queues: map[string][]observation{}}
	c.cond = sync.NewCond(&c.mu)
	go c.read(stdout)
	t.Cleanup(func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() })
	return c
}

func (c *clients) read(stdout io.Reader) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var o observation
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			o = observation{Name: "driver", Kind: "unreadable", Message: sc.Text()}
		}
		c.mu.Lock()
		c.queues[o.Name] = append(c.queues[o.Name], o)
		c.cond.Broadcast()
		c.mu.Unlock()
	}
	c.mu.Lock()
	c.ended = true
	c.cond.Broadcast()
	c.mu.Unlock()
}

// do sends the script a command.
func (c *clients) do(op string, fields map[string]any) {
	c.t.Helper()
	cmd := map[string]any{"op": op}
	for k, v := range fields {
		cmd[k] = v
	}
	line, _ := json.Marshal(cmd)
	if _, err := c.stdin.Write(append(line, '\n')); err != nil {
		c.t.Fatalf("live-clients.mjs: %v", err)
	}
}

// next takes the next observation of the client name, waiting up to 30 s.
func (c *clients) next(name string) observation {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	timer := time.AfterFunc(30*time.Second, func() { c.mu.Lock(); c.cond.Broadcast(); c.mu.Unlock() })
	defer timer.Stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.queues[name]) == 0 {
		if c.ended || time.Now().After(deadline) {
			c.t.Fatalf("%s: nothing observed (script ended: %v; others: %v)", name, c.ended, c.queues["driver"])
		}
		c.cond.Wait()
	}
	o := c.queues[name][0]
	c.queues[name] = c.queues[name][1:]
	return o
}

// frame takes the session's next frame, which must be of type typ; frames
// of the types in skip are passed over.
func (c *clients) frame(name, typ string, skip ...string) frame {
	c.t.Helper()
	for {
		o := c.next(name)
		if o.Kind != "frame" {
			c.t.Fatalf("%s: %+v, want a %s frame", name, o, typ)
		}
		if o.Frame["type"] == typ {
			return o.Frame
		}
		if !contains(skip, o.Frame["type"]) {
			c.t.Fatalf("%s: frame %v, want %s", name, o.Frame, typ)
		}
	}
}

func contains(list []string, v any) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

// ws opens a session of token at base and waits for its hello.
func (c *clients) ws(name, base, token string) frame {
	c.t.Helper()
	c.do("ws", map[string]any{"name": name, "url": strings.Replace(base, "http", "ws", 1) + "/v1/ws", "token": token})
	if o := c.next(name); o.Kind != "open" {
		c.t.Fatalf("%s: %+v, want open", name, o)
	}
	return c.frame(name, "hello")
}

// closeCode waits for the session's close, passing over frames.
func (c *clients) closeCode(name string) int {
	c.t.Helper()
	for {
		switch o := c.next(name); o.Kind {
		case "closed":
			return o.Code
		case "frame":
		default:
			c.t.Fatalf("%s: %+v, want frames then a close", name, o)
		}
	}
}

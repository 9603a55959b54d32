package main

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"reflect"
	"sync"
	"syscall"
	"testing"
)

// gate is a reverse proxy in front of whichever node process is running,
// so that a client keeps one address across restarts (each start listens
// on a new port). Shut, it drops every new connection without an answer,
// which an EventSource takes as a network error and retries. It records the
// Last-Event-ID of every /v1/sse request that reached a node.
type gate struct {
	mu      sync.Mutex
	open    bool
	backend *url.URL
	ids     []string
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	open, backend := g.open, g.backend
	if open && r.URL.Path == "/v1/sse" {
		g.ids = append(g.ids, r.Header.Get("Last-Event-ID"))
	}
	g.mu.Unlock()
	if !open {
		panic(http.ErrAbortHandler) // closes the connection, no response
	}
	proxy := httputil.NewSingleHostReverseProxy(backend)
	proxy.FlushInterval = -1
	proxy.ErrorLog = log.New(io.Discard, "", 0) // a killed node's stream breaks
	proxy.ServeHTTP(w, r)
}

// to opens the gate onto the node at base.
func (g *gate) to(t *testing.T, base string) {
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	g.mu.Lock()
	g.open, g.backend = true, u
	g.mu.Unlock()
}

func (g *gate) shut() {
	g.mu.Lock()
	g.open = false
	g.mu.Unlock()
}

func (g *gate) lastEventIDs() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.ids...)
}

// sseClient follows what one EventSource has received.
type sseClient struct {
	c        *clients
	name     string
	received []string          // notification ids, in arrival order
	eventIDs map[string]string // notification id → its event id
}

// notifications waits for n more notification events, passing over the
// other events and the library's reconnections, which it counts.
func (s *sseClient) notifications(t *testing.T, n int) (hellos, reconnects int) {
	t.Helper()
	for got := 0; got < n; {
		o := s.c.next(s.name)
		switch {
		case o.Kind == "event" && o.Event == "notification":
			id, _ := o.Data["id"].(string)
			s.received = append(s.received, id)
			s.eventIDs[id] = o.ID
			got++
		case o.Kind == "event" && o.Event == "hello":
			hellos++
		case o.Kind == "connect", o.Kind == "error", o.Kind == "open":
			reconnects++
		case o.Kind == "event" && o.Event == "unseen":
		default:
			t.Fatalf("SSE: %+v while waiting for notifications", o)
		}
	}
	return hellos, reconnects
}

// until passes over events up to the server's error event code, or the
// library's first connection error when code is "".
func (s *sseClient) until(t *testing.T, code string) {
	t.Helper()
	for {
		o := s.c.next(s.name)
		switch {
		case o.Kind == "event" && o.Event == "notification":
			t.Fatalf("SSE: notification %v while waiting for the stream to end", o.Data)
		case code != "" && o.Kind == "event" && o.Event == "error":
			if o.Data["code"] != code {
				t.Fatalf("SSE: error event %v, want %s", o.Data, code)
			}
			return
		case code == "" && o.Kind == "error":
			return
		}
	}
}

// TestSSEResumesWithNodeEventSource: npm's eventsource, through a proxy,
// reads a node's /v1/sse; the node is stopped (SIGTERM: the stream ends
// with going_away) and later killed (SIGKILL: the stream breaks), each time
// started again on the same data while notifications are sent. The
// library reconnects by itself with the Last-Event-ID of the last
// notification it received, and in the end has received every
// notification exactly once, in the order sent. On PostgreSQL and Redis
// when the tests have them, else on the embedded SQLite and Redis.
func TestSSEResumesWithNodeEventSource(t *testing.T) {
	c := startClients(t, "eventsource")
	bin := buildBinary(t)
	env := crashEnv(t)
	p := startProcess(t, bin, env)
	key := parseCredentials(t, p.out).APIKey
	_, token := p.token(t, key, "alice")
	g := &gate{}
	g.to(t, p.base)
	front := httptest.NewServer(g)
	defer front.Close()

	var sent []string
	send := func(titles ...string) {
		for _, title := range titles {
			sent = append(sent, p.notify(t, key, title, "alice"))
		}
	}
	s := &sseClient{c: c, name: "alice", eventIDs: map[string]string{}}
	send("pending 1", "pending 2")
	c.do("sse", map[string]any{"name": "alice", "url": front.URL + "/v1/sse?token=" + url.QueryEscape(token)})
	s.notifications(t, 2)
	send("live 1", "live 2")
	s.notifications(t, 2)

	// Stopped: the stream ends with going_away, and the library's next
	// attempts find the gate shut while the node starts again and two
	// notifications are sent.
	g.shut()
	p.cmd.Process.Signal(syscall.SIGTERM)
	s.until(t, "going_away")
	s.until(t, "")
	p.cmd.Wait()
	p = startProcess(t, bin, env)
	send("while stopped 1", "while stopped 2", "while stopped 3")
	resumeAfter := s.eventIDs[sent[3]]
	g.to(t, p.base)
	if hellos, _ := s.notifications(t, 3); hellos != 1 {
		t.Fatalf("%d hellos on resuming, want 1", hellos)
	}
	send("live 3")
	s.notifications(t, 1)

	// Killed: the stream breaks; meanwhile two are sent, and the user
	// reads one of them on another device: it is sent all the same.
	g.shut()
	p.cmd.Process.Kill()
	p.cmd.Wait()
	s.until(t, "")
	p = startProcess(t, bin, env)
	send("while killed 1", "while killed 2")
	if code := callToken(t, p, token, "POST", "/v1/inbox/"+sent[len(sent)-2]+"/read"); code != 200 {
		t.Fatalf("read: %d", code)
	}
	resumeAfterKill := s.eventIDs[sent[7]]
	g.to(t, p.base)
	s.notifications(t, 2)
	send("live 4")
	s.notifications(t, 1)
	c.do("close", map[string]any{"name": "alice"})

	if !reflect.DeepEqual(s.received, sent) {
		t.Fatalf("received %v,\nsent     %v: want each once, in order", s.received, sent)
	}
	// The first connection has no Last-Event-ID; each resumption (the node
	// took every attempt while the gate was open) names the last
	// notification received.
	if ids := g.lastEventIDs(); !reflect.DeepEqual(ids, []string{"", resumeAfter, resumeAfterKill}) || resumeAfter == "" || resumeAfterKill == "" {
		t.Fatalf("Last-Event-ID of the connections: %q, want none, then %q, then %q", ids, resumeAfter, resumeAfterKill)
	}
}

// callToken calls a client-token route of the node.
func callToken(t *testing.T, p *process, token, method, path string) int {
	t.Helper()
	req, _ := http.NewRequest(method, p.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

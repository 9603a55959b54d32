package server

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pushgate/pushgate/internal/testenv"
)

// Shutdown ends the connections http.Server.Shutdown cannot: a hijacked
// one (its client reads the goodbye, then EOF) and a stream that would
// otherwise hold the shutdown until the grace period ends.
func TestShutdownEndsLongLivedConnections(t *testing.T) {
	cfg := Defaults()
	cfg.DataDir = t.TempDir()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.QueueNamespace = testenv.Namespace(t)
	cfg.RedisURL = testenv.RedisURL(t)
	cfg.ShutdownGrace = 10 * time.Second
	ctx := context.Background()
	s, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", s.handler)
	mux.HandleFunc("GET /test/hijack", s.testHijack)
	mux.HandleFunc("GET /test/stream", s.testStream)
	s.http.Handler = mux
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	hijacked := dialTest(t, s.Addr(), "/test/hijack", "HTTP/1.1 101")
	stream := dialTest(t, s.Addr(), "/test/stream", "HTTP/1.1 200")
	for s.conns.Len() < 2 {
		time.Sleep(10 * time.Millisecond)
	}

	start := time.Now()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > cfg.ShutdownGrace/2 {
		t.Fatalf("shutdown took %s: it waited for a long-lived connection", took)
	}
	for name, r := range map[string]*bufio.Reader{"hijacked": hijacked, "stream": stream} {
		rest, err := io.ReadAll(r)
		if err != nil || !strings.Contains(string(rest), "bye") {
			t.Errorf("%s client read %q, %v; want the goodbye, then EOF", name, rest, err)
		}
	}
}

// testHijack takes the connection over, as a WebSocket upgrade does, and
// says goodbye when the registry ends it.
func (s *Server) testHijack(w http.ResponseWriter, r *http.Request) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	done := s.conns.Track(func(ctx context.Context) {
		if d, ok := ctx.Deadline(); ok {
			conn.SetWriteDeadline(d)
		}
		io.WriteString(conn, "bye\n")
		conn.Close()
	})
	defer done()
	io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n")
	io.Copy(io.Discard, buf) // until closed
}

// testStream is an endless stream (SSE) that ends when the registry asks.
func (s *Server) testStream(w http.ResponseWriter, r *http.Request) {
	stop := make(chan struct{})
	done := s.conns.Track(func(context.Context) { close(stop) })
	defer done()
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	http.NewResponseController(w).Flush()
	select {
	case <-stop:
		io.WriteString(w, "bye\n")
	case <-r.Context().Done():
	}
}

// dialTest sends a GET of path and reads the answer's head, which must
// start with status.
func dialTest(t *testing.T, addr, path, status string) *bufio.Reader {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(conn, "GET "+path+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, status) {
		t.Fatalf("GET %s: %q %v", path, line, err)
	}
	for line != "\r\n" {
		if line, err = r.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

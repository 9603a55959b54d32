package server

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pushgate/pushgate/internal/testenv"
)

// The node's HTTP server bounds what a client can hold: a body sent too
// slowly (http_body_timeout), an idle keep-alive connection
// (http_idle_timeout) and the size of the request's headers.
func TestHTTPServerBoundsClients(t *testing.T) {
	cfg := Defaults()
	cfg.DataDir = t.TempDir()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.Roles = []string{RoleAPI}
	cfg.QueueNamespace = testenv.Namespace(t)
	cfg.RedisURL = testenv.RedisURL(t)
	cfg.HTTPBodyTimeout = 300 * time.Millisecond
	cfg.HTTPIdleTimeout = time.Second
	s, a := startNode(t, cfg)

	// closed reports whether the server closes conn within wait, reading
	// (and discarding) whatever it sends first. A reset (the server closed
	// while the client still wrote) is closed too; only the deadline is not.
	closed := func(conn net.Conn, wait time.Duration) bool {
		conn.SetReadDeadline(time.Now().Add(wait))
		_, err := io.Copy(io.Discard, conn)
		var ne net.Error
		return !errors.As(err, &ne) || !ne.Timeout()
	}

	t.Run("slow body", func(t *testing.T) {
		conn, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /v1/app/keys HTTP/1.1\r\nHost: x\r\nx-token: %s\r\nContent-Length: 100\r\n\r\n{", a.key)
		go func() {
			for i := 0; i < 99; i++ {
				time.Sleep(50 * time.Millisecond) // 5 s for the whole body
				if _, err := conn.Write([]byte(" ")); err != nil {
					return
				}
			}
		}()
		conn.SetReadDeadline(time.Now().Add(4 * time.Second))
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil || res.StatusCode != 408 {
			t.Fatalf("dripping body: %v %v, want 408", res, err)
		}
		if !closed(conn, 4*time.Second) {
			t.Fatal("the connection of a dripping body is still open")
		}
	})

	t.Run("idle keep-alive", func(t *testing.T) {
		conn, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		conn.SetReadDeadline(time.Now().Add(4 * time.Second))
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil || res.StatusCode != 200 || res.Close {
			t.Fatalf("keep-alive request: %v %v", res, err)
		}
		res.Body.Close()
		if !closed(conn, 5*time.Second) {
			t.Fatal("an idle keep-alive connection is still open")
		}
	})

	t.Run("headers too large", func(t *testing.T) {
		req, _ := http.NewRequest("GET", "http://"+s.Addr()+"/healthz", nil)
		req.Header.Set("X-Big", strings.Repeat("x", 100<<10))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("100 KiB of headers: %d, want 431", res.StatusCode)
		}
	})
}

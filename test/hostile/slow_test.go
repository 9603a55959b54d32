package hostile

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestOversizedHeaders sends header sections past what the server reads
// (Go's 1 MiB): each is answered 431 (414 for a request line), and the node
// lives on.
func TestOversizedHeaders(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, backend string) {
		n := startNode(t, nodeConfig(t, backend))
		huge := strings.Repeat("h", 2<<20)
		var many strings.Builder
		for i := 0; i < 100_000; i++ {
			fmt.Fprintf(&many, "X-H%d: %d\r\n", i, i)
		}
		cases := []struct{ name, raw string }{
			{"one 2 MiB header", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + huge + "\r\n\r\n"},
			{"100,000 small headers", "GET /healthz HTTP/1.1\r\nHost: x\r\n" + many.String() + "\r\n"},
			{"a 2 MiB request line", "GET /healthz?q=" + huge + " HTTP/1.1\r\nHost: x\r\n\r\n"},
			{"a 2 MiB API key", "GET /v1/app HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer pgk_" + huge + "\r\n\r\n"},
			{"a 2 MiB cookie on a public event", "POST /v1/context/x/events/clicked HTTP/1.1\r\nHost: x\r\nCookie: a=" + huge + "\r\nContent-Length: 2\r\n\r\n{}"},
			{"a header line that never ends", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Endless: " + huge},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				a := n.raw([]byte(c.raw), 20*time.Second)
				var p []string
				if a.err != nil || !slices.Contains([]int{431, 414}, a.status) {
					p = append(p, "want 431, got "+a.String())
				}
				judge(t, backend, "headers: "+c.name, p)
				n.alive()
			})
		}
	})
}

// TestSlowClients holds hundreds of connections open the slow ways: idle
// after connecting, a request line dripped a byte a second, a body dripped
// a byte a second, a body announced and never sent. Meanwhile every other
// request is answered, and the node lives on after.
func TestSlowClients(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, backend string) {
		n := startNode(t, nodeConfig(t, backend))
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var conns []net.Conn
		var mu sync.Mutex
		open := func(first string, drip bool) {
			c, err := net.DialTimeout("tcp", n.addr, 5*time.Second)
			if err != nil {
				t.Errorf("connection %d refused: %v", len(conns), err)
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			c.Write([]byte(first))
			if !drip {
				return
			}
			wg.Go(func() {
				tick := time.NewTicker(time.Second)
				defer tick.Stop()
				for {
					select {
					case <-stop:
						return
					case <-tick.C:
						if _, err := c.Write([]byte("a")); err != nil {
							return
						}
					}
				}
			})
		}
		post := fmt.Sprintf("POST /v1/bucket HTTP/1.1\r\nHost: x\r\nAuthorization: token=%s\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{", n.admin)
		for i := 0; i < 100; i++ {
			open("", false)             // idle: connected, silent
			open("GET /healthz?", true) // a request line, dripped
			open(post, true)            // a body, dripped
			open(post+`"a":"`, false)   // a body, stopped halfway
		}
		t.Logf("%d slow connections open", len(conns))

		// Meanwhile other clients are answered.
		var failures []string
		for i := 0; i < 20; i++ {
			for _, path := range []string{"/healthz", "/v1/app"} {
				a := n.do(request{method: "GET", path: path, key: n.admin})
				if a.err != nil || a.status != 200 {
					failures = append(failures, fmt.Sprintf("GET %s beside slow clients: %s", path, a))
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		judge(t, backend, "slow clients do not stop other requests", failures)
		close(stop)
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
		n.alive()
	})
}

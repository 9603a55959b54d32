package hostile

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"
)

// TestSlowBodyIsCutOff: a body dripped a byte at a time, or announced and
// never sent, is cut off once HTTPBodyTimeout has passed (give or take the
// generous margin of a loaded machine), and the node lives on.
func TestSlowBodyIsCutOff(t *testing.T) {
	t.Parallel()
	const bound = 2 * time.Second
	forEachBackend(t, func(t *testing.T, backend string) {
		cfg := nodeConfig(t, backend)
		cfg.HTTPBodyTimeout = bound
		n := startNode(t, cfg)
		head := fmt.Sprintf("POST /v1/bucket HTTP/1.1\r\nHost: x\r\nAuthorization: token=%s\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{", n.admin)
		for _, c := range []struct {
			name  string
			every time.Duration // 0: nothing after the head
		}{{"dripped a byte every 500 ms", 500 * time.Millisecond}, {"announced and never sent", 0}} {
			t.Run(c.name, func(t *testing.T) {
				var wg sync.WaitGroup
				problems := make([]string, 20)
				for i := range problems {
					wg.Go(func() { problems[i] = cutOff(n, head, c.every, bound+10*time.Second) })
				}
				wg.Wait()
				var p []string
				for _, s := range problems {
					if s != "" {
						p = append(p, s)
					}
				}
				judge(t, backend, "slow body "+c.name+" is cut off", p)
				n.alive()
			})
		}
	})
}

// cutOff sends head and then a byte every interval, and reports what is
// wrong if the node has not ended the request within limit.
func cutOff(n *node, head string, every, limit time.Duration) string {
	c, err := net.DialTimeout("tcp", n.addr, 5*time.Second)
	if err != nil {
		return err.Error()
	}
	defer c.Close()
	c.Write([]byte(head))
	stop := make(chan struct{})
	defer close(stop)
	if every > 0 {
		go func() {
			tick := time.NewTicker(every)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					if _, err := c.Write([]byte(" ")); err != nil {
						return
					}
				}
			}
		}()
	}
	c.SetReadDeadline(time.Now().Add(limit))
	a := readAnswer(c, []byte(head))
	switch {
	case a.err == nil && (a.status < 400 || a.status >= 500):
		return "want a 4xx when the body is cut off, got " + a.String()
	case a.err == nil:
		if p := errorShape(a); len(p) > 0 {
			return p[0]
		}
		return ""
	}
	if ne, ok := a.err.(net.Error); ok && ne.Timeout() {
		return fmt.Sprintf("the request was still open after %v", limit)
	}
	return "" // closed without an answer: cut off too
}

package main

import (
	"os"
	"testing"

	"github.com/pushgate/pushgate/internal/testenv"
)

// token makes a client token for user through the node.
func (p *process) token(t *testing.T, key, user string) (id, value string) {
	t.Helper()
	var tok struct{ ID, Token string }
	if code := p.call(t, key, "POST", "/v1/tokens", map[string]any{"name": "device", "userId": user}, &tok); code != 201 {
		t.Fatalf("token for %s: %d", user, code)
	}
	return tok.ID, tok.Token
}

// notify sends a notification to users through the node.
func (p *process) notify(t *testing.T, key, title string, users ...string) string {
	t.Helper()
	var n struct{ ID string }
	body := map[string]any{"title": title, "message": "about " + title, "to": map[string]any{"userIds": users}}
	if code := p.call(t, key, "POST", "/v1/notifications", body, &n); code != 201 {
		t.Fatalf("notification %s: %d", title, code)
	}
	return n.ID
}

// TestTwoNodesWithNodeClients runs two `pushgate serve` processes on one
// PostgreSQL and one Redis, with npm ws sessions on both: a notification
// sent through either node reaches the user's sessions on both, a read on
// one node changes unseen on the other's session, and a token deleted
// through one node closes its session on the other with 4003 while the
// user's other token stays connected.
func TestTwoNodesWithNodeClients(t *testing.T) {
	if os.Getenv("PUSHGATE_TEST_DATABASE_URL") == "" || !testenv.RealRedis() {
		t.Skip("two nodes need a shared PostgreSQL and Redis: set PUSHGATE_TEST_DATABASE_URL and PUSHGATE_TEST_REDIS_URL (CI does)")
	}
	env := crashEnv(t)
	c := startClients(t, "ws")
	bin := buildBinary(t)
	a := startProcess(t, bin, env)
	key := parseCredentials(t, a.out).APIKey
	// The same database, Redis, master key and queue namespace; a data
	// directory of its own.
	b := startProcess(t, bin, append(env, "PUSHGATE_DATA_DIR="+t.TempDir()))

	revokedID, revoked := a.token(t, key, "alice")
	_, kept := b.token(t, key, "alice")
	c.ws("onA", a.base, revoked)
	c.ws("onB", b.base, revoked)
	if h := c.ws("keptOnB", b.base, kept); h["userId"] != "alice" || h["unseen"] != 0.0 {
		t.Fatalf("hello on node B: %v", h)
	}

	// Through A, then through B: every session on both nodes hears it.
	viaA := a.notify(t, key, "via A", "alice")
	viaB := b.notify(t, key, "via B", "alice")
	for _, s := range []string{"onA", "onB", "keptOnB"} {
		for _, id := range []string{viaA, viaB} {
			if n := c.frame(s, "notification", "unseen"); n["id"] != id {
				t.Fatalf("%s: notification %v, want %s", s, n, id)
			}
		}
		// Each live notification is followed by its count; one that came
		// while the session was still sending the pending ones after
		// hello is followed by a single recount once they are sent.
		for u := c.frame(s, "unseen"); u["count"] != 2.0; u = c.frame(s, "unseen") {
			if u["count"] != 1.0 {
				t.Fatalf("%s: %v after two notifications", s, u)
			}
		}
	}

	// A read on node B: the session on node A hears the new count.
	c.do("send", map[string]any{"name": "onB", "frame": map[string]any{"type": "read", "ids": []string{viaA}}})
	for _, s := range []string{"onA", "onB", "keptOnB"} {
		if u := c.frame(s, "unseen"); u["count"] != 1.0 {
			t.Fatalf("%s after a read on node B: %v, want unseen 1", s, u)
		}
	}
	// And an ack on node A reaches node B (the count stays).
	c.do("send", map[string]any{"name": "onA", "frame": map[string]any{"type": "ack", "ids": []string{viaB}}})
	for _, s := range []string{"onA", "onB", "keptOnB"} {
		if u := c.frame(s, "unseen"); u["count"] != 1.0 {
			t.Fatalf("%s after an ack on node A: %v, want unseen 1", s, u)
		}
	}

	// The token deleted through A: its sessions on both nodes close with
	// 4003; the other token's session on B lives on.
	if code := a.call(t, key, "DELETE", "/v1/tokens/"+revokedID, nil, nil); code != 204 {
		t.Fatalf("delete token: %d", code)
	}
	for _, s := range []string{"onB", "onA"} {
		if code := c.closeCode(s); code != 4003 {
			t.Fatalf("%s: closed with %d, want 4003", s, code)
		}
	}
	c.do("send", map[string]any{"name": "keptOnB", "frame": map[string]any{"type": "ping", "ref": "still"}})
	if p := c.frame("keptOnB", "pong"); p["ref"] != "still" {
		t.Fatalf("the other token's session: %v", p)
	}
	last := a.notify(t, key, "after the revocation", "alice")
	if n := c.frame("keptOnB", "notification"); n["id"] != last {
		t.Fatalf("the other token's session after the revocation: %v", n)
	}
}

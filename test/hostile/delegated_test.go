package hostile

import (
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// delegatedApp is an app's connectAuthUrl that answers what its cookie
// asks for ("answer=<name>" of delegatedAnswers) and counts its calls.
type delegatedApp struct {
	*httptest.Server
	calls atomic.Int64
	// inward counts connections to where its redirect points.
	inward atomic.Int64
}

var delegatedAnswers = map[string]func(w http.ResponseWriter, inward string){
	"alice":   func(w http.ResponseWriter, _ string) { fmt.Fprint(w, `{"userId":"alice"}`) },
	"nul":     func(w http.ResponseWriter, _ string) { fmt.Fprint(w, `{"userId":"al\u0000ice"}`) },
	"control": func(w http.ResponseWriter, _ string) { fmt.Fprint(w, `{"userId":"al\nice"}`) },
	"long":    func(w http.ResponseWriter, _ string) { fmt.Fprintf(w, `{"userId":%q}`, strings.Repeat("é", 201)) },
	"number":  func(w http.ResponseWriter, _ string) { fmt.Fprint(w, `{"userId":7}`) },
	"array":   func(w http.ResponseWriter, _ string) { fmt.Fprint(w, `[{"userId":"alice"}]`) },
	"huge": func(w http.ResponseWriter, _ string) {
		fmt.Fprintf(w, `{"userId":"alice","x":%q}`, strings.Repeat("x", 1<<20))
	},
	"empty":    func(w http.ResponseWriter, _ string) {},
	"status":   func(w http.ResponseWriter, _ string) { w.WriteHeader(201); fmt.Fprint(w, `{"userId":"alice"}`) },
	"redirect": func(w http.ResponseWriter, inward string) { w.Header().Set("Location", inward); w.WriteHeader(307) },
}

func newDelegatedApp(t *testing.T) *delegatedApp {
	d := &delegatedApp{}
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.inward.Add(1)
		fmt.Fprint(w, `{"userId":"alice"}`)
	}))
	t.Cleanup(sink.Close)
	d.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.calls.Add(1)
		c, err := r.Cookie("answer")
		if err != nil || delegatedAnswers[c.Value] == nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		delegatedAnswers[c.Value](w, sink.URL)
	}))
	t.Cleanup(d.Close)
	return d
}

// TestDelegatedAuthentication attacks the three surfaces that take the
// app's cookies instead of a client token (/v1/ws, /v1/sse, the inbox):
// no app or another's, an API key beside the app, a foreign or null
// Origin, hostile answers of the app (a NUL, control characters, a huge
// body, a redirect inward). Each is refused in the error shape with the
// status documented, and a refused Origin or API key never reaches the
// app.
func TestDelegatedAuthentication(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, backend string) {
		app := newDelegatedApp(t)
		cfg := nodeConfig(t, backend)
		cfg.SSRFAllow = "127.0.0.1/32"
		cfg.ConnectAuthRootCAs = x509.NewCertPool()
		cfg.ConnectAuthRootCAs.AddCert(app.Certificate())
		n := startNode(t, cfg)
		var a struct{ Key string }
		n.must(200, n.admin, "PATCH", "/v1/app", map[string]any{"connectAuthUrl": app.URL + "/whoami",
			"allowedOrigins": []string{"https://shop.example"}}, &a)
		_, otherKey := n.newApp("other")
		var other struct{ Key string }
		n.must(200, otherKey, "GET", "/v1/app", nil, &other)

		type dcase struct {
			name   string
			query  string
			header http.Header
			status int
			asks   bool // whether the app is called
		}
		cookie := func(answer string, kv ...string) http.Header {
			h := http.Header{"Cookie": {"answer=" + answer}}
			for i := 0; i < len(kv); i += 2 {
				h.Add(kv[i], kv[i+1])
			}
			return h
		}
		cases := []dcase{
			{"admitted", "app=" + a.Key, cookie("alice"), 200, true},
			{"admitted from an allowed origin", "app=" + a.Key, cookie("alice", "Origin", "https://shop.example"), 200, false},
			{"no credentials", "app=" + a.Key, nil, 401, false},
			{"an unknown app", "app=ffffffffffffffffffff", cookie("alice"), 401, false},
			{"an app id of nobody", "app=01a23c5a-dde1-7f28-996b-cf6d1289879f", cookie("alice"), 401, false},
			{"an app without connectAuthUrl", "app=" + other.Key, cookie("alice"), 401, false},
			{"a huge app", "app=" + strings.Repeat("a", 5000), cookie("alice"), 401, false},
			{"a NUL in app", "app=%00", cookie("alice"), 400, false},
			{"an API key beside", "app=" + a.Key, cookie("alice", "X-Token", n.admin), 401, false},
			{"an API key as Authorization", "app=" + a.Key, cookie("alice", "Authorization", "Bearer "+n.admin), 401, false},
			{"a foreign origin", "app=" + a.Key, cookie("alice", "Origin", "https://evil.example"), 403, false},
			{"a null origin", "app=" + a.Key, cookie("alice", "Origin", "null"), 403, false},
			{"an origin in another case of port", "app=" + a.Key, cookie("alice", "Origin", "https://shop.example:8443"), 403, false},
			{"a bad client token beside the app", "app=" + a.Key + "&token=pgt_x", cookie("alice"), 401, false},
		}
		for name := range delegatedAnswers {
			if name != "alice" {
				cases = append(cases, dcase{"the app answers " + name, "app=" + a.Key, cookie(name), 401, true})
			}
		}
		for _, c := range cases {
			for _, surface := range []string{"GET /v1/ws", "GET /v1/sse", "GET /v1/inbox/unseen-count"} {
				name := fmt.Sprintf("delegated: %s: %s", surface, c.name)
				t.Run(name, func(t *testing.T) {
					h := c.header.Clone()
					if h == nil {
						h = http.Header{}
					}
					path := strings.TrimPrefix(surface, "GET ") + "?" + c.query
					if surface == "GET /v1/ws" {
						h.Set("Connection", "Upgrade")
						h.Set("Upgrade", "websocket")
						h.Set("Sec-WebSocket-Version", "13")
						h.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
					}
					status := c.status
					if status == 200 && surface == "GET /v1/ws" {
						status = 101
					}
					judge(t, backend, name, delegatedProblems(n, app, path, h, status, c.asks))
				})
			}
		}
		if got := app.inward.Load(); got > 0 {
			t.Errorf("the app's redirect was followed %d times", got)
		}
		n.alive()
	})
}

// delegatedProblems makes one request (a stream it opens is closed at
// once) and says what is wrong with the answer.
func delegatedProblems(n *node, app *delegatedApp, path string, h http.Header, status int, asks bool) []string {
	before := app.calls.Load()
	req, _ := http.NewRequest("GET", n.base+path, nil)
	req.Header = h
	res, err := n.client.Do(req)
	if err != nil {
		return []string{"no answer: " + err.Error()}
	}
	var a answer
	if res.StatusCode >= 400 {
		b, _ := readBody(res)
		a = answer{status: res.StatusCode, header: res.Header, body: b}
	}
	res.Body.Close()
	var p []string
	if res.StatusCode != status {
		p = append(p, fmt.Sprintf("status %d, want %d: %s", res.StatusCode, status, a.body))
	}
	if a.status != 0 {
		p = append(p, errorShape(a)...)
	}
	if called := app.calls.Load() > before; !asks && called {
		p = append(p, "the app was asked")
	} else if asks && !called && status != 200 {
		p = append(p, "the app was not asked")
	}
	return p
}

package inbox_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/inbox"
	"github.com/pushgate/pushgate/internal/testenv"
)

// scriptedApp answers a connectAuthUrl call with what its script says for
// the Cookie it gets, and counts calls.
func scriptedApp(t *testing.T, script map[string]func(http.ResponseWriter)) (*httptest.Server, *atomic.Int64) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if f := script[r.Header.Get("Cookie")]; f != nil {
			f(w)
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func answer(status int, body string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.WriteHeader(status)
		w.Write([]byte(body))
	}
}

// What each answer of the app means, which answers are remembered, and
// that an admitted user becomes one of the app's users.
func TestConnectAuthAnswers(t *testing.T) {
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			s, app, _, clk := newService(t, testenv.OpenDB(t, d.URL))
			srv, calls := scriptedApp(t, map[string]func(http.ResponseWriter){
				"ok":       answer(200, `{"userId":"alice"}`),
				"teapot":   answer(418, `{"userId":"alice"}`),
				"redirect": func(w http.ResponseWriter) { w.Header().Set("Location", "/elsewhere"); w.WriteHeader(302) },
				"control":  answer(200, `{"userId":"al\u0007ice"}`),
				"empty":    answer(200, `{"userId":""}`),
				"notjson":  answer(200, `alice`),
				"huge":     answer(200, `{"userId":"alice","pad":"`+strings.Repeat("x", 5000)+`"}`),
				"down":     answer(503, ``),
			})
			ca := inbox.NewConnectAuth(s, inbox.ConnectAuthOptions{
				Client: inbox.NewConnectAuthClient(http.DefaultTransport), CacheTTL: 30 * time.Second, Now: clk.Now,
			})
			ctx := context.Background()
			auth := func(cookie string) (string, string) {
				u, err := ca.Authenticate(ctx, app, srv.URL+"/whoami", cookie, "")
				return u, pushgate.ErrorCode(err)
			}
			if _, _, err := s.Send(ctx, app, inbox.NewNotification{Title: "before"}); err != nil {
				t.Fatal("send")
			}
			clk.Add(time.Second)
			if u, code := auth("ok"); u != "alice" || code != "" {
				t.Fatalf("admitted: %q %q", u, code)
			}
			clk.Add(time.Second)
			_, c, err := s.Send(ctx, app, inbox.NewNotification{Title: "to everyone"})
			if err != nil || c.Recipients != 1 {
				t.Fatalf("a broadcast after alice was admitted: %+v %v", c, err)
			}
			if unseen, _ := s.Unseen(ctx, app, "alice"); unseen != 1 {
				t.Fatalf("alice has the broadcasts from her admission on: unseen %d", unseen)
			}
			for _, cookie := range []string{"teapot", "redirect", "control", "empty", "notjson", "huge", "down", "nobody"} {
				if u, code := auth(cookie); u != "" || code != pushgate.EUNAUTHORIZED {
					t.Errorf("%s: %q %q, want unauthorized", cookie, u, code)
				}
			}
			// Remembered: the admission and the app's 401; asked again: the rest.
			before := calls.Load()
			for _, cookie := range []string{"ok", "nobody", "teapot", "down"} {
				auth(cookie)
			}
			if got := calls.Load() - before; got != 2 {
				t.Fatalf("%d calls, want 2 (teapot and down asked again)", got)
			}
			clk.Add(31 * time.Second)
			auth("ok")
			if got := calls.Load() - before; got != 3 {
				t.Fatalf("after the cache time: %d calls, want 3", got)
			}
			if _, code := auth(""); code != pushgate.EUNAUTHORIZED || calls.Load()-before != 3 {
				t.Fatal("no credentials must be refused without a call")
			}
		})
	}
}

// A connectAuthUrl that does not answer is unavailable (Retry-After), not
// a refusal, and is never remembered; with no cache every connection asks.
func TestConnectAuthUnreachable(t *testing.T) {
	s, app, _, _ := newService(t, testenv.OpenDB(t, testenv.SQLiteURL(t)))
	srv, calls := scriptedApp(t, map[string]func(http.ResponseWriter){"ok": answer(200, `{"userId":"bob"}`)})
	ca := inbox.NewConnectAuth(s, inbox.ConnectAuthOptions{Client: inbox.NewConnectAuthClient(http.DefaultTransport)})
	ctx := context.Background()
	for range 2 {
		if u, err := ca.Authenticate(ctx, app, srv.URL, "ok", ""); u != "bob" || err != nil {
			t.Fatalf("%q %v", u, err)
		}
	}
	if calls.Load() != 2 {
		t.Fatalf("with no cache: %d calls, want 2", calls.Load())
	}
	url := srv.URL
	srv.Close()
	_, err := ca.Authenticate(ctx, app, url, "ok", "")
	var pe *pushgate.Error
	if pushgate.ErrorCode(err) != pushgate.EUNAVAILABLE || !errors.As(err, &pe) || pe.RetryAfter <= 0 {
		t.Fatalf("unreachable: %v", err)
	}
	if strings.Contains(pushgate.ErrorMessage(err), url) {
		t.Fatalf("the message names the URL: %s", pushgate.ErrorMessage(err))
	}
}

// The cache keeps at most MaxCached answers.
func TestConnectAuthCacheIsBounded(t *testing.T) {
	s, app, _, clk := newService(t, testenv.OpenDB(t, testenv.SQLiteURL(t)))
	srv, calls := scriptedApp(t, nil) // every cookie is refused with 401, which is remembered
	ca := inbox.NewConnectAuth(s, inbox.ConnectAuthOptions{
		Client: inbox.NewConnectAuthClient(http.DefaultTransport), CacheTTL: time.Minute, MaxCached: 3, Now: clk.Now,
	})
	ctx := context.Background()
	for _, c := range []string{"a", "b", "c", "d", "e"} {
		ca.Authenticate(ctx, app, srv.URL, c, "")
	}
	before := calls.Load()
	for _, c := range []string{"a", "b", "c", "d", "e"} {
		ca.Authenticate(ctx, app, srv.URL, c, "")
	}
	// Of five answers three were kept: at least two are asked again.
	if again := calls.Load() - before; again < 2 {
		t.Fatalf("%d asked again, want at least 2", again)
	}
}

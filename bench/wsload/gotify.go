package main

import (
	"context"
	"fmt"
	"net/http"

	"github.com/pushgate/pushgate/bench/internal/loadclient"
)

// gotify speaks Gotify's API. Its fan-out is one user's n clients: a
// message to an application reaches every stream of the application's
// owner. The one user is another user with its own application.
type gotify struct {
	loadclient.API
	name, pass string
	appKey     string // the admin's application, which fans out
	soloApp    string // the one user's application
}

var _ backend = (*gotify)(nil)

func newGotify(base, name, pass string) *gotify {
	return &gotify{API: loadclient.NewAPI(base), name: name, pass: pass}
}

func basic(name, pass string) http.Header {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(name, pass)
	return r.Header
}

func key(token string) http.Header { return http.Header{"X-Gotify-Key": {token}} }

func (g *gotify) prepare(ctx context.Context, n int) ([]user, user, error) {
	// Basic authentication checks a bcrypt hash on every request: one
	// client made with it makes the others with its token.
	var admin, app struct{ Token string }
	if err := g.Call(ctx, "POST", "/client", basic(g.name, g.pass), map[string]string{"name": "wsload-admin"}, &admin); err != nil {
		return nil, user{}, err
	}
	if err := g.Call(ctx, "POST", "/application", key(admin.Token), map[string]string{"name": "wsload"}, &app); err != nil {
		return nil, user{}, err
	}
	g.appKey = app.Token
	users := make([]user, n)
	err := loadclient.Parallel(ctx, n, 16, func(ctx context.Context, i int) error {
		var c struct{ Token string }
		err := g.Call(ctx, "POST", "/client", key(admin.Token), map[string]string{"name": fmt.Sprintf("wsload-%05d", i)}, &c)
		users[i] = user{id: fmt.Sprintf("client-%05d", i), token: c.Token}
		return err
	})
	if err != nil {
		return nil, user{}, err
	}
	solo, err := g.soloUser(ctx, admin.Token)
	return users, solo, err
}

// soloUser makes the one user, its client and its application.
func (g *gotify) soloUser(ctx context.Context, adminKey string) (user, error) {
	const name, pass = "wsload-one", "wsload-one-password"
	if err := g.Call(ctx, "POST", "/user", key(adminKey), map[string]any{"name": name, "pass": pass, "admin": false}, nil); err != nil {
		return user{}, err
	}
	var c, app struct{ Token string }
	if err := g.Call(ctx, "POST", "/client", basic(name, pass), map[string]string{"name": "one"}, &c); err != nil {
		return user{}, err
	}
	if err := g.Call(ctx, "POST", "/application", key(c.Token), map[string]string{"name": "one"}, &app); err != nil {
		return user{}, err
	}
	g.soloApp = app.Token
	return user{id: name, token: c.Token}, nil
}

func (g *gotify) request(u user) (string, http.Header) {
	return g.WSURL("/stream"), key(u.token)
}

func (g *gotify) greets() bool { return false }

func (g *gotify) fanOut(ctx context.Context, title string, _ []user) error {
	return g.message(ctx, g.appKey, title)
}

func (g *gotify) toOne(ctx context.Context, _ user, title string) error {
	return g.message(ctx, g.soloApp, title)
}

func (g *gotify) message(ctx context.Context, appKey, title string) error {
	return g.Call(ctx, "POST", "/message", key(appKey), map[string]any{"title": title, "message": "wsload", "priority": 5}, nil)
}

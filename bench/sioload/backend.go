package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/pushgate/pushgate/bench/internal/loadclient"
)

// backend is a notification-server backend's REST calls, authenticated
// with X-AUTH-TOKEN.
type backend struct {
	loadclient.API
	auth http.Header
}

func newBackend(base, token string) *backend {
	return &backend{API: loadclient.NewAPI(base), auth: http.Header{"X-Auth-Token": {token}}}
}

// registerAll registers each client's connectionId for its user.
func (b *backend) registerAll(ctx context.Context, clients []*client) error {
	return loadclient.Parallel(ctx, len(clients), 16, func(ctx context.Context, i int) error {
		c := clients[i]
		return b.Call(ctx, "PUT", fmt.Sprintf("/api/%s/register?connectionId=%s", url.PathEscape(c.user), url.QueryEscape(c.connID)), b.auth, nil, nil)
	})
}

// push pushes c's message to its user.
func (b *backend) push(ctx context.Context, c *client) error {
	body := `{"message":` + strconv.Quote(c.want) + `}`
	return b.Raw(ctx, "POST", "/api/"+url.PathEscape(c.user)+"/push", b.auth, strings.NewReader(body), nil)
}

// conn is one client's open transport.
type conn interface{ close() }

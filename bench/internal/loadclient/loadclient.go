// Package loadclient is what the load tools under bench/ share to reach a
// server as its clients do: a JSON client of its API, a bounded parallel
// loop, and a dialer that spreads loopback connections over source
// addresses. It is a client only: it never measures the server.
package loadclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/sync/errgroup"
)

// API is a JSON client of one server.
type API struct {
	Base string
	HTTP *http.Client
}

// NewAPI makes a client of the server at base (http(s)://host:port).
func NewAPI(base string) API {
	return API{Base: strings.TrimRight(base, "/"), HTTP: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
}

// Call sends body (JSON-encoded unless nil) and decodes a 2xx answer into
// out (unless nil).
func (a API) Call(ctx context.Context, method, path string, header http.Header, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	return a.Raw(ctx, method, path, header, r, out)
}

// Raw sends body as it is (JSON) and decodes a 2xx answer into out
// (unless nil).
func (a API) Raw(ctx context.Context, method, path string, header http.Header, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, a.Base+path, body)
	if err != nil {
		return err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, b)
	}
	if out == nil || len(b) == 0 {
		return nil
	}
	return json.Unmarshal(b, out)
}

// WSURL is the server's path with ws(s) for http(s).
func (a API) WSURL(path string) string {
	if rest, ok := strings.CutPrefix(a.Base, "https://"); ok {
		return "wss://" + rest + path
	}
	return "ws://" + strings.TrimPrefix(a.Base, "http://") + path
}

// Parallel runs f for 0..n-1, workers at a time, and stops at the first error.
func Parallel(ctx context.Context, n, workers int, f func(ctx context.Context, i int) error) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	for i := range n {
		g.Go(func() error { return f(ctx, i) })
	}
	return g.Wait()
}

// LocalDialer spreads connections to a loopback server over 16 source
// addresses (by i), so that 10,000 connections, closed and opened again,
// never run out of ephemeral ports.
func LocalDialer(target string, i int) func(ctx context.Context, network, addr string) (net.Conn, error) {
	u, err := url.Parse(target)
	if err != nil || u.Hostname() != "127.0.0.1" {
		return (&net.Dialer{}).DialContext
	}
	local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+(i+1)%16))}
	return (&net.Dialer{LocalAddr: local}).DialContext
}

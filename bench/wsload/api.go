package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"golang.org/x/sync/errgroup"
)

// api is a JSON client of one server.
type api struct {
	base string
	http *http.Client
}

func newAPI(base string) api {
	return api{base: strings.TrimRight(base, "/"), http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
}

// call sends body (JSON-encoded unless nil) and decodes a 2xx answer into
// out (unless nil).
func (a api) call(ctx context.Context, method, path string, header http.Header, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, r)
	if err != nil {
		return err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.http.Do(req)
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
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

// wsURL is base with ws(s) for http(s).
func (a api) wsURL(path string) string {
	if rest, ok := strings.CutPrefix(a.base, "https://"); ok {
		return "wss://" + rest + path
	}
	return "ws://" + strings.TrimPrefix(a.base, "http://") + path
}

// parallel runs f for 0..n-1, workers at a time, and stops at the first error.
func parallel(ctx context.Context, n, workers int, f func(ctx context.Context, i int) error) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	for i := range n {
		g.Go(func() error { return f(ctx, i) })
	}
	return g.Wait()
}

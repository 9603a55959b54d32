package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/pushgate/pushgate/bench/internal/loadclient"
)

// events is the run's triggered events: when each was called and its
// receipts so far.
type events struct {
	sent []atomic.Int64 // unix ns of the trigger call; 0: not yet
	got  []atomic.Int64 // receipts
	last []atomic.Int64 // unix ns of the latest receipt
}

func newEvents(n int) *events {
	return &events{sent: make([]atomic.Int64, n), got: make([]atomic.Int64, n), last: make([]atomic.Int64, n)}
}

// arrive records event k's receipt at now and returns its delay from the
// call (false: not an event this run triggered).
func (e *events) arrive(k int, now time.Time) (time.Duration, bool) {
	if k >= len(e.sent) {
		return 0, false
	}
	sent := e.sent[k].Load()
	if sent == 0 {
		return 0, false
	}
	e.got[k].Add(1)
	at := now.UnixNano()
	for {
		last := e.last[k].Load()
		if at <= last || e.last[k].CompareAndSwap(last, at) {
			break
		}
	}
	return time.Duration(at - sent), true
}

// api is the Pusher HTTP API, requests signed with the app's secret.
type api struct {
	loadclient.API
	appID, key, secret string
}

// trigger sends event k (data "ev-<k>") to channels.
func (a *api) trigger(ctx context.Context, k int, channels []string) error {
	body, _ := json.Marshal(map[string]any{"name": "load", "channels": channels, "data": "ev-" + strconv.Itoa(k)})
	path := "/apps/" + a.appID + "/events"
	sum := md5.Sum(body)
	q := url.Values{
		"auth_key": {a.key}, "auth_timestamp": {strconv.FormatInt(time.Now().Unix(), 10)},
		"auth_version": {"1.0"}, "body_md5": {hex.EncodeToString(sum[:])},
	}
	// Encode sorts by key, and none of these needs escaping: it is the
	// signed form too (keys lower-case, k=v joined with &).
	params := q.Encode()
	m := hmac.New(sha256.New, []byte(a.secret))
	fmt.Fprintf(m, "POST\n%s\n%s", path, params)
	q.Set("auth_signature", hex.EncodeToString(m.Sum(nil)))
	var answer map[string]any
	if err := a.Raw(ctx, "POST", path+"?"+q.Encode(), nil, bytes.NewReader(body), &answer); err != nil {
		return err
	}
	if e, ok := answer["error"]; ok { // soketi answers some failures 200 with an error
		return fmt.Errorf("trigger: %v", e)
	}
	return nil
}

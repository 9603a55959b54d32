package main

import (
	"context"
	"fmt"
	"net/http"

	"github.com/pushgate/pushgate/bench/internal/loadclient"
)

// pushgate speaks pushgate's API: an API key makes client tokens and sends
// notifications; each user connects to /v1/ws with its token.
type pushgate struct {
	loadclient.API
	auth    http.Header
	chunked bool // fanOut with to.userIds in chunks of 1000, not a broadcast
}

var _ backend = (*pushgate)(nil)

func newPushgate(base, key string) *pushgate {
	return &pushgate{API: loadclient.NewAPI(base), auth: http.Header{"X-Token": {key}}}
}

func (p *pushgate) prepare(ctx context.Context, n int) ([]user, user, error) {
	users := make([]user, n+1)
	err := loadclient.Parallel(ctx, n+1, 16, func(ctx context.Context, i int) error {
		id := fmt.Sprintf("wsload-%05d", i)
		if i == n {
			id = "wsload-one"
		}
		var t struct{ Token string }
		err := p.Call(ctx, "POST", "/v1/tokens", p.auth, map[string]string{"name": "wsload", "userId": id}, &t)
		users[i] = user{id: id, token: t.Token}
		return err
	})
	return users[:n], users[n], err
}

func (p *pushgate) request(u user) (string, http.Header) {
	return p.WSURL("/v1/ws"), http.Header{"Authorization": {"Bearer " + u.token}}
}

func (p *pushgate) greets() bool { return true }

func (p *pushgate) fanOut(ctx context.Context, title string, users []user) error {
	if !p.chunked {
		_, err := p.send(ctx, title, nil)
		return err
	}
	const chunk = 1000
	return loadclient.Parallel(ctx, (len(users)+chunk-1)/chunk, 16, func(ctx context.Context, i int) error {
		ids := make([]string, 0, chunk)
		for _, u := range users[i*chunk : min(len(users), (i+1)*chunk)] {
			ids = append(ids, u.id)
		}
		_, err := p.send(ctx, title, ids)
		return err
	})
}

func (p *pushgate) toOne(ctx context.Context, u user, title string) error {
	_, err := p.send(ctx, title, []string{u.id})
	return err
}

// send posts a notification to userIDs (nil: a broadcast) and returns
// its recipients as the answer counts them.
func (p *pushgate) send(ctx context.Context, title string, userIDs []string) (int64, error) {
	body := map[string]any{"title": title, "message": "wsload"}
	if userIDs != nil {
		body["to"] = map[string]any{"userIds": userIDs}
	}
	var answer struct{ Recipients int64 }
	err := p.Call(ctx, "POST", "/v1/notifications", p.auth, body, &answer)
	return answer.Recipients, err
}

package server

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	pusher "github.com/pusher/pusher-http-go/v5"

	"github.com/pushgate/pushgate/apps"
	"github.com/pushgate/pushgate/internal/testenv"
)

// TestChannelWebhooksWithTheGoSDK: an app's channel webhook receives the
// presence channel's life (occupied, a member_added per user, the
// members removed, vacated) in batches that the Go server SDK's own
// parser (pusher-http-go's Client.Webhook) accepts, and that one with
// another secret refuses; a batch answered 500 comes again.
func TestChannelWebhooksWithTheGoSDK(t *testing.T) {
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			cfg := nodeConfig(t, d.URL)
			cfg.SSRFAllow = "127.0.0.1/32"
			cfg.WebhookFlushInterval, cfg.WebhookMinBackoff = 100*time.Millisecond, 100*time.Millisecond
			s, _ := startNode(t, cfg)
			creds, _ := s.FirstApp()
			sdk := &pusher.Client{AppID: creds.AppID, Key: creds.Key, Secret: creds.Secret, Host: s.Addr()}
			wrong := &pusher.Client{AppID: creds.AppID, Key: creds.Key, Secret: "another secret", Host: s.Addr()}

			var mu sync.Mutex
			var got []string
			posts, refusedByWrong := 0, 0
			backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				mu.Lock()
				defer mu.Unlock()
				if posts++; posts == 1 {
					w.WriteHeader(http.StatusInternalServerError)
					return
				}
				if _, err := wrong.Webhook(r.Header, body); err != nil {
					refusedByWrong++
				}
				hook, err := sdk.Webhook(r.Header, body)
				if err != nil {
					t.Errorf("the SDK refuses our webhook: %v (%s)", err, body)
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				for _, e := range hook.Events {
					got = append(got, e.Name+" "+e.Channel+" "+e.UserID)
				}
			}))
			defer backend.Close()
			url := backend.URL + "/pusher/webhooks"
			if _, err := s.Apps.UpdateSettings(context.Background(), creds.AppID, apps.SettingsPatch{ChannelWebhookURL: &url}); err != nil {
				t.Fatal(err)
			}

			alice, bob := dialPusher(t, s, creds.Key), dialPusher(t, s, creds.Key)
			alice.subscribe(sdk, "presence-room", &pusher.MemberData{UserID: "alice"})
			bob.subscribe(sdk, "presence-room", &pusher.MemberData{UserID: "bob"})
			alice.ws.Close()
			time.Sleep(100 * time.Millisecond)
			bob.ws.Close()
			want := []string{"channel_occupied presence-room ", "member_added presence-room alice", "member_added presence-room bob",
				"member_removed presence-room alice", "member_removed presence-room bob", "channel_vacated presence-room "}
			done := func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(got) >= len(want)
			}
			for start := time.Now(); !done() && time.Since(start) < 15*time.Second; time.Sleep(50 * time.Millisecond) {
			}
			mu.Lock()
			defer mu.Unlock()
			// The first batch was answered 500 and may come again after
			// newer ones: compared as sets.
			sorted := slices.Sorted(slices.Values(got))
			if !slices.Equal(sorted, slices.Sorted(slices.Values(want))) {
				t.Fatalf("webhook events %q, want %q", got, want)
			}
			if posts < 2 || refusedByWrong != posts-1 {
				t.Errorf("%d POSTs, %d refused by an SDK with another secret", posts, refusedByWrong)
			}
		})
	}
}

package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// sdkResults is what test/js/pusher-sdk.mjs prints.
type sdkResults struct {
	Settings struct {
		Status int
		Body   map[string]any
	}
	BatchPrivate       map[string]any
	AliceGot, BobGot   []struct{ Name string }
	SubscriptionCounts struct {
		Seen     []int
		Property int
	}
	Channels struct {
		Channels map[string]struct {
			SubscriptionCount int `json:"subscription_count"`
		}
	}
	Channel struct {
		Occupied          bool
		SubscriptionCount int `json:"subscription_count"`
	}
	ClientEvent map[string]any
	Users       struct{ Users []struct{ ID string } }
	UserEvent   map[string]any
	Hooks       struct {
		Posts       int
		FirstID     string
		IDs         []string
		Valid       []bool
		ForgedValid bool
		Times       []int64
		Events      []map[string]any
		Batches     []int
	}
}

// jsNode runs a script of test/js against a fresh node of the binary and
// decodes what it prints into out.
func jsNode(t *testing.T, script string, out any, packages ...string) {
	node := nodeWith(t, packages...)
	bin := buildBinary(t)
	env := crashEnv(t, "PUSHGATE_HTTP_ADDR="+freeAddr(t), "PUSHGATE_WEBHOOK_FLUSH_INTERVAL=200ms", "PUSHGATE_WEBHOOK_MIN_BACKOFF=200ms")
	p := startProcess(t, bin, env)
	creds := parseCredentials(t, p.out)
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(p.base, "http://"))
	setup, _ := json.Marshal(map[string]any{"host": host, "port": port, "appId": creds.AppID, "key": creds.Key,
		"secret": creds.Secret, "apiKey": creds.APIKey})
	setupFile := filepath.Join(t.TempDir(), "setup.json")
	if err := os.WriteFile(setupFile, setup, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("..", "..", "test", "js", script), setupFile)
	cmd.Stderr = os.Stderr
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, raw)
	}
	t.Logf("%s saw %s", script, raw)
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("results %s: %v", raw, err)
	}
}

// TestPusherServerSDKAndChannelWebhooks runs the real binary against npm's
// Pusher server SDK: trigger (with a socket excluded), triggerBatch,
// channel and user queries, sendToUser, and channel authorization and
// user authentication it signs for pusher-js clients; subscription counts
// reach the clients; and the app's channel webhooks arrive batched, with
// a failed POST sent again, and pass the SDK's own validation.
func TestPusherServerSDKAndChannelWebhooks(t *testing.T) {
	var r sdkResults
	jsNode(t, "pusher-sdk.mjs", &r, "pusher", "pusher-js")
	if r.Settings.Status != 200 || r.Settings.Body["subscriptionCount"] != true || !strings.HasSuffix(r.Settings.Body["channelWebhookUrl"].(string), "/webhook") {
		t.Fatalf("settings: %+v", r.Settings)
	}
	names := func(got []struct{ Name string }) []string {
		var out []string
		for _, g := range got {
			out = append(out, g.Name)
		}
		return out
	}
	if a, b := names(r.AliceGot), names(r.BobGot); !slices.Equal(a, []string{"hello", "b1"}) || !slices.Equal(b, []string{"hello", "skip", "b1"}) {
		t.Errorf("alice got %v (she was excluded from skip), bob got %v", a, b)
	}
	if r.BatchPrivate["n"] != 2.0 {
		t.Errorf("batch event on the private channel: %v", r.BatchPrivate)
	}
	if r.SubscriptionCounts.Property != 2 || !slices.Contains(r.SubscriptionCounts.Seen, 2) {
		t.Errorf("subscription counts seen by alice: %+v, want 2 once bob subscribed", r.SubscriptionCounts)
	}
	if r.Channels.Channels["news"].SubscriptionCount != 2 || !r.Channel.Occupied || r.Channel.SubscriptionCount != 2 {
		t.Errorf("channel queries: %+v %+v", r.Channels, r.Channel)
	}
	if r.ClientEvent["on"] != true || r.UserEvent["hi"] != "alice" {
		t.Errorf("client event %v, event to the user %v", r.ClientEvent, r.UserEvent)
	}
	var users []string
	for _, u := range r.Users.Users {
		users = append(users, u.ID)
	}
	if slices.Sort(users); !slices.Equal(users, []string{"alice", "bob"}) {
		t.Errorf("presence users %v", users)
	}
	checkChannelWebhooks(t, &r)
}

func checkChannelWebhooks(t *testing.T, r *sdkResults) {
	t.Helper()
	h := r.Hooks
	// A batch that failed is sent again with its id (maybe after newer
	// batches: each is retried on its own).
	if h.Posts < 2 || h.FirstID == "" || !slices.Contains(h.IDs, h.FirstID) {
		t.Errorf("webhook POSTs %d, first id %q, accepted ids %v: want the failed batch sent again", h.Posts, h.FirstID, h.IDs)
	}
	if slices.Contains(h.Valid, false) || h.ForgedValid {
		t.Errorf("the SDK's validation: %v, a forged body valid: %v", h.Valid, h.ForgedValid)
	}
	for _, ms := range h.Times {
		if d := time.Since(time.UnixMilli(ms)); d < 0 || d > time.Minute {
			t.Errorf("time_ms %d is not now", ms)
		}
	}
	// Each batch keeps its events in order, but a retried batch may come
	// after newer ones: compare the events of every batch, in order, with
	// the order they happened in, and all of them as a set.
	want := []string{
		"channel_occupied private-hook", "client_event private-hook",
		"channel_occupied presence-hook", "member_added presence-hook alice", "member_added presence-hook bob",
		"channel_occupied cache-hook", "cache_miss cache-hook",
		"channel_vacated private-hook",
		"member_removed presence-hook alice", "member_removed presence-hook bob", "channel_vacated presence-hook",
		"channel_vacated cache-hook",
	}
	var all []string
	start := 0
	for _, n := range h.Batches {
		batch := hookEvents(t, h.Events[start:start+n])
		start += n
		if !inOrder(batch, want) {
			t.Errorf("a batch's events are out of order: %v", batch)
		}
		all = append(all, batch...)
	}
	slices.Sort(all)
	sorted := slices.Sorted(slices.Values(want))
	if !slices.Equal(all, sorted) {
		t.Errorf("channel webhook events:\n%s\nwant:\n%s", strings.Join(all, "\n"), strings.Join(sorted, "\n"))
	}
}

// hookEvents are the events of the test's *-hook channels as text, with
// the client event checked whole.
func hookEvents(t *testing.T, events []map[string]any) []string {
	t.Helper()
	var got []string
	for _, e := range events {
		if c := e["channel"].(string); strings.HasSuffix(c, "-hook") {
			s := e["name"].(string) + " " + c
			if u, ok := e["user_id"]; ok {
				s += " " + u.(string)
			}
			got = append(got, s)
		}
		if e["name"] == "client_event" {
			want := map[string]any{"name": "client_event", "channel": "private-hook", "event": "client-typing",
				"data": `{"on":true}`, "socket_id": e["socket_id"]}
			if !reflect.DeepEqual(e, want) || e["socket_id"] == "" {
				t.Errorf("client_event %v", e)
			}
		}
	}
	return got
}

// inOrder reports whether sub appears in seq in the same order.
func inOrder(sub, seq []string) bool {
	i := 0
	for _, s := range seq {
		if i < len(sub) && sub[i] == s {
			i++
		}
	}
	return i == len(sub)
}

// echoResults is what test/js/laravel-echo.mjs prints.
type echoResults struct {
	Public, Private, Whisper []map[string]any
	Here                     struct{ Alice, Bob []string }
	Joining, Leaving         []string
	SocketID                 string
}

// TestLaravelEchoAgainstTheBinary: Laravel Echo's Pusher connector, set up
// as a Laravel app does (authEndpoint, pusher-js), hears broadcasts on a
// public and a private channel, whispers, and follows a presence channel
// with here, joining and leaving.
func TestLaravelEchoAgainstTheBinary(t *testing.T) {
	var r echoResults
	jsNode(t, "laravel-echo.mjs", &r, "laravel-echo", "pusher", "pusher-js")
	if len(r.Public) != 2 || r.Public[0]["id"] != 1.0 || r.Public[1]["id"] != 2.0 {
		t.Errorf("public channel: %v", r.Public)
	}
	if len(r.Private) != 1 || r.Private[0]["id"] != 3.0 {
		t.Errorf("private channel: %v", r.Private)
	}
	if len(r.Whisper) != 1 || r.Whisper[0]["user"] != "bob" {
		t.Errorf("whisper: %v", r.Whisper)
	}
	if !slices.Equal(r.Here.Alice, []string{"alice"}) || !slices.Equal(r.Here.Bob, []string{"alice", "bob"}) {
		t.Errorf("here: %+v", r.Here)
	}
	if !slices.Equal(r.Joining, []string{"bob"}) || !slices.Equal(r.Leaving, []string{"bob"}) {
		t.Errorf("joining %v, leaving %v", r.Joining, r.Leaving)
	}
	if r.SocketID == "" {
		t.Error("Echo.socketId() is empty")
	}
}

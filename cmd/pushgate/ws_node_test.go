package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/pushgate/pushgate/internal/testenv"
)

// nodeWith returns the node binary if the npm packages are installed.
func nodeWith(t *testing.T, packages ...string) string {
	t.Helper()
	return testenv.Node(t, "../../node_modules", packages...)
}

type frame = map[string]any

// wsResults is what test/js/inbox-ws.mjs prints.
type wsResults struct {
	Refusals map[string]struct {
		Status int
		Body   struct{ Code, Message string }
	}
	PhoneProtocol, TabProtocol string
	Replay, TabReplay          []frame
	AfterAck                   frame
	AfterRead                  struct{ Phone, Tab frame }
	Live                       struct {
		ID         string
		Phone, Tab []frame
	}
	RestReadStatus int
	AfterRestRead  struct{ Phone, Tab frame }
	AfterReadAll   struct{ Phone, Tab frame }
	RetractStatus  int
	Retracted      struct {
		ID         string
		Phone, Tab []frame
	}
	History1, History2 frame
	AfterDelete        struct{ Phone, Tab frame }

	CrossAnswers    []frame
	AliceHistoryIDs []string `json:"aliceHistoryIds"`
	AliceGetsBobs   int
	BobItem         struct {
		Status int
		Body   frame
	}
	BobCount  struct{ Count int }
	BobReplay []frame

	HostileReplay []frame
	BadFrames     []struct {
		Name, Want, Got, Message, Ref string
		Answers                       int
	}
	PingAfterBadFrames []frame
	OversizedClose     int
	FloodClose         int
	AfterAbuse         []frame
	PongAfterAbuse     []frame
	SilentHello        frame
	SilentClose        int
}

// TestInboxOverWebSocketWithNodeClient runs the real binary and drives
// /v1/ws with npm's ws client: an offline user's queued notifications
// arrive in order on connect, two sessions of one user stay in step, a
// token cannot act on another user's inbox, and every bad frame of a table
// gets its documented answer while the node keeps serving.
func TestInboxOverWebSocketWithNodeClient(t *testing.T) {
	node := nodeWith(t, "ws")
	bin := buildBinary(t)
	const maxFrame = 4096
	p := startProcess(t, bin, crashEnv(t, fmt.Sprintf("PUSHGATE_WS_MAX_FRAME_BYTES=%d", maxFrame), "PUSHGATE_WS_HEARTBEAT=1s"))
	key := parseCredentials(t, p.out).APIKey

	token := func(user string) (id, value string) {
		var tok struct{ ID, Token string }
		if code := p.call(t, key, "POST", "/v1/tokens", map[string]any{"name": "web", "userId": user}, &tok); code != 201 {
			t.Fatalf("token for %s: %d", user, code)
		}
		return tok.ID, tok.Token
	}
	notify := func(body map[string]any) string {
		var n struct{ ID string }
		if code := p.call(t, key, "POST", "/v1/notifications", body, &n); code != 201 {
			t.Fatalf("notification %v: %d", body, code)
		}
		return n.ID
	}
	_, alice := token("alice")
	_, bob := token("bob")
	carolID, carol := token("carol")
	if code := p.call(t, key, "DELETE", "/v1/tokens/"+carolID, nil, nil); code != 204 {
		t.Fatalf("delete token: %d", code)
	}
	// Alice is offline: three notifications wait for her (one a broadcast),
	// and one whose ttl runs out before she connects.
	expired := notify(map[string]any{"title": "gone soon", "ttl": 1, "to": map[string]any{"userIds": []string{"alice"}}})
	pending := []string{
		notify(map[string]any{"title": "one", "message": "first", "to": map[string]any{"userIds": []string{"alice"}}}),
		notify(map[string]any{"title": "everyone", "message": "a broadcast"}),
		notify(map[string]any{"title": "three", "priority": 9, "extras": map[string]any{"k": "v"}, "to": map[string]any{"userIds": []string{"alice", "dave"}}}),
	}
	bobNote := notify(map[string]any{"title": "for bob", "to": map[string]any{"userIds": []string{"bob"}}})
	time.Sleep(1500 * time.Millisecond) // the ttl of 1 s runs out

	setup, _ := json.Marshal(map[string]any{"base": p.base, "apiKey": key, "alice": alice, "bob": bob, "revoked": carol,
		"pending": pending, "expired": expired, "bobNote": bobNote, "maxFrame": maxFrame})
	setupFile := filepath.Join(t.TempDir(), "setup.json")
	if err := os.WriteFile(setupFile, setup, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("..", "..", "test", "js", "inbox-ws.mjs"), setupFile)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	var r wsResults
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("results %s: %v", out, err)
	}
	checkRefusals(t, &r)
	checkOfflineReplay(t, &r, pending)
	checkTwoSessions(t, &r, pending)
	checkOtherUser(t, &r, pending, bobNote)
	checkBadFrames(t, &r)
}

func checkRefusals(t *testing.T, r *wsResults) {
	t.Helper()
	for _, name := range []string{"none", "unknown", "revoked", "bearerRevoked", "apiKey"} {
		if got := r.Refusals[name]; got.Status != 401 || got.Body.Code != "unauthorized" {
			t.Errorf("connection with %s token: %+v, want 401 unauthorized before the upgrade", name, got)
		}
	}
}

// ids lists the ids of the notification frames among frames, and checks
// every frame is one.
func ids(t *testing.T, what string, frames []frame) []string {
	t.Helper()
	var out []string
	for _, f := range frames {
		if f["type"] != "notification" {
			t.Errorf("%s: frame %v, want only notifications", what, f)
			continue
		}
		out = append(out, f["id"].(string))
	}
	return out
}

func checkOfflineReplay(t *testing.T, r *wsResults, pending []string) {
	t.Helper()
	if r.PhoneProtocol != "pushgate.v1" {
		t.Errorf("subprotocol %q, want pushgate.v1", r.PhoneProtocol)
	}
	if len(r.Replay) == 0 {
		t.Fatal("no hello")
	}
	hello := r.Replay[0]
	if hello["type"] != "hello" || hello["userId"] != "alice" || hello["unseen"] != 3.0 || hello["heartbeat"] != 1.0 || hello["sessionId"] == "" {
		t.Errorf("hello %v", hello)
	}
	// In order, the expired one never.
	if got := ids(t, "replay", r.Replay[1:]); !reflect.DeepEqual(got, pending) {
		t.Errorf("queued notifications %v, want %v in that order", got, pending)
	}
	third := r.Replay[len(r.Replay)-1]
	if third["title"] != "three" || third["priority"] != 9.0 || third["extras"].(frame)["k"] != "v" || third["createdAt"] == "" {
		t.Errorf("notification frame %v", third)
	}
	// Acknowledged, they are delivered but still unread.
	if r.AfterAck["type"] != "unseen" || r.AfterAck["count"] != 3.0 {
		t.Errorf("after ack: %v, want unseen 3", r.AfterAck)
	}
	if r.TabProtocol != "" || len(r.TabReplay) != 1 || r.TabReplay[0]["type"] != "hello" || r.TabReplay[0]["unseen"] != 3.0 {
		t.Errorf("second session (protocol %q): %v, want hello with 3 unseen and nothing pending", r.TabProtocol, r.TabReplay)
	}
}

func unseen(f frame, count float64) bool { return f["type"] == "unseen" && f["count"] == count }

func checkTwoSessions(t *testing.T, r *wsResults, pending []string) {
	t.Helper()
	if !unseen(r.AfterRead.Phone, 2) || !unseen(r.AfterRead.Tab, 2) {
		t.Errorf("after a read on the tab: %+v, want unseen 2 on both", r.AfterRead)
	}
	for name, fs := range map[string][]frame{"phone": r.Live.Phone, "tab": r.Live.Tab} {
		if n := fs[0]; n["type"] != "notification" || n["id"] != r.Live.ID || n["clickUrl"] != "https://shop.example/o/7" || n["priority"] != 8.0 || !unseen(fs[1], 3) {
			t.Errorf("%s: live notification %v, want it and unseen 3", name, fs)
		}
	}
	if r.RestReadStatus != 200 || !unseen(r.AfterRestRead.Phone, 2) || !unseen(r.AfterRestRead.Tab, 2) {
		t.Errorf("after a read through REST (%d): %+v, want unseen 2 on both", r.RestReadStatus, r.AfterRestRead)
	}
	if !unseen(r.AfterReadAll.Phone, 0) || !unseen(r.AfterReadAll.Tab, 0) {
		t.Errorf("after read_all: %+v, want unseen 0 on both", r.AfterReadAll)
	}
	if r.RetractStatus != 204 {
		t.Errorf("retract: %d", r.RetractStatus)
	}
	for name, fs := range map[string][]frame{"phone": r.Retracted.Phone, "tab": r.Retracted.Tab} {
		if fs[0]["type"] != "retracted" || fs[0]["id"] != r.Retracted.ID || !unseen(fs[1], 0) {
			t.Errorf("%s: retraction %v, want retracted and unseen 0", name, fs)
		}
	}
	h1, h2 := r.History1, r.History2
	if h1["type"] != "history" || h1["ref"] != "h1" || len(h1["items"].([]any)) != 2 || h1["cursor"] == "" {
		t.Errorf("history page 1: %v", h1)
	}
	if h2["type"] != "history" || h2["ref"] != "h2" || len(h2["items"].([]any)) != 2 || h2["cursor"] != "" {
		t.Errorf("history page 2: %v", h2)
	}
	for _, it := range append(h1["items"].([]any), h2["items"].([]any)...) {
		if it.(frame)["status"] != "read" {
			t.Errorf("history status=seen lists %v", it)
		}
	}
	if !unseen(r.AfterDelete.Phone, 0) || !unseen(r.AfterDelete.Tab, 0) {
		t.Errorf("after delete: %+v", r.AfterDelete)
	}
}

func checkOtherUser(t *testing.T, r *wsResults, pending []string, bobNote string) {
	t.Helper()
	if len(r.CrossAnswers) != 0 {
		t.Errorf("alice acting on bob's notification was answered %v, want nothing", r.CrossAnswers)
	}
	for _, id := range r.AliceHistoryIDs {
		if id == bobNote {
			t.Error("alice's history lists bob's notification")
		}
	}
	if r.AliceGetsBobs != 404 {
		t.Errorf("alice's token reads bob's notification: %d, want 404", r.AliceGetsBobs)
	}
	if r.BobItem.Status != 200 || r.BobItem.Body["status"] != "unseen" {
		t.Errorf("bob's notification after alice's frames: %+v, want unseen", r.BobItem)
	}
	// Bob's own notification and the broadcast alice has read.
	if r.BobCount.Count != 2 {
		t.Errorf("bob's unseen count %d, want 2", r.BobCount.Count)
	}
	if len(r.BobReplay) == 0 || r.BobReplay[0]["unseen"] != 2.0 {
		t.Fatalf("bob's hello: %v", r.BobReplay)
	}
	if got := ids(t, "bob's replay", r.BobReplay[1:]); !reflect.DeepEqual(got, []string{pending[1], bobNote}) {
		t.Errorf("bob's queued notifications %v, want the broadcast and his own", got)
	}
}

func checkBadFrames(t *testing.T, r *wsResults) {
	t.Helper()
	if len(r.HostileReplay) != 1 {
		t.Errorf("before the bad frames: %v, want hello only", r.HostileReplay)
	}
	if len(r.BadFrames) < 20 {
		t.Errorf("%d bad frames, want at least 20", len(r.BadFrames))
	}
	for i, b := range r.BadFrames {
		if b.Got != b.Want {
			t.Errorf("%s: answered %s, want %s", b.Name, b.Got, b.Want)
		}
		if b.Want != "none" && (b.Answers != 1 || b.Message == "") {
			t.Errorf("%s: %d answers, message %q; want one error frame that says why", b.Name, b.Answers, b.Message)
		}
		if want := fmt.Sprintf("r%d", i); b.Want != "none" && b.Want != "malformed" && b.Ref != want && !refless(b.Name) {
			t.Errorf("%s: ref %q, want %q echoed", b.Name, b.Ref, want)
		}
	}
	if len(r.PingAfterBadFrames) != 0 {
		t.Errorf("after the bad frames: %v before the pong", r.PingAfterBadFrames)
	}
	if r.OversizedClose != 1009 {
		t.Errorf("a frame over ws_max_frame_bytes closed with %d, want 1009", r.OversizedClose)
	}
	if r.FloodClose != 1008 {
		t.Errorf("a flood closed with %d, want 1008", r.FloodClose)
	}
	if len(r.AfterAbuse) == 0 || r.AfterAbuse[0]["type"] != "hello" || len(r.PongAfterAbuse) != 1 || r.PongAfterAbuse[0]["ref"] != "still" {
		t.Errorf("a new session after the abuse: %v then %v, want hello then pong", r.AfterAbuse, r.PongAfterAbuse)
	}
	if r.SilentHello["heartbeat"] != 1.0 || r.SilentClose != 1006 {
		t.Errorf("a session that answers no pings: hello %v, closed %d; want closed without a close frame (1006)", r.SilentHello, r.SilentClose)
	}
}

// refless names the bad frames that carry no usable ref to echo.
func refless(name string) bool {
	switch name {
	case "ref an object", "ref over 64 characters", "binary frame":
		return true
	}
	return false
}

package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	pusher "github.com/pusher/pusher-http-go/v5"
)

// pusherResults is what test/js/pusher-js.mjs prints.
type pusherResults struct {
	SocketIDs         []string `json:"socketIds"`
	Public            map[string]any
	PrivateSubscribed []bool
	Private           []map[string]any
	PrivateDenied     any
	ClientEvent       map[string]any
	ClientEventEcho   int
	PresenceFirst     struct {
		Count int
		Me    struct{ ID string }
	}
	PresenceBob struct {
		Count int
		IDs   []string
	}
	PresenceAlice2 struct{ Count int }
	PresenceEvents struct{ Added, Removed []string }
	UserEvent      map[string]any
	AfterTerminate struct {
		State  string
		States []string
	}
	AfterRestart struct {
		Event  map[string]any
		States []string
	}
}

// freeAddr is a loopback address nothing listens on now.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// appBackend is the app's own server: it signs channel auth and sign-ins
// with the Go Pusher SDK for the user named in X-User (refusing
// private-denied), and triggers, sends to users and terminates through it.
func appBackend(t *testing.T, sdk *pusher.Client, base string, restart func()) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /restart", func(w http.ResponseWriter, r *http.Request) { restart() })
	mux.HandleFunc("POST /auth", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		user := r.Header.Get("X-User")
		var out []byte
		var err error
		switch {
		case strings.Contains(string(body), "private-denied"):
			http.Error(w, "no", http.StatusForbidden)
			return
		case strings.Contains(string(body), "presence-"):
			out, err = sdk.AuthorizePresenceChannel(body, pusher.MemberData{UserID: user, UserInfo: map[string]string{"name": strings.ToUpper(user)}})
		default:
			out, err = sdk.AuthorizePrivateChannel(body)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Write(out)
	})
	mux.HandleFunc("POST /user-auth", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		out, err := sdk.AuthenticateUser(body, map[string]any{"id": r.Header.Get("X-User")})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Write(out)
	})
	mux.HandleFunc("POST /trigger", func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			Channel, Event string
			Data           any
		}
		json.NewDecoder(r.Body).Decode(&b)
		backendAnswer(t, w, sdk.Trigger(b.Channel, b.Event, b.Data))
	})
	mux.HandleFunc("POST /send-to-user", func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			User, Event string
			Data        any
		}
		json.NewDecoder(r.Body).Decode(&b)
		backendAnswer(t, w, sdk.SendToUser(b.User, b.Event, b.Data))
	})
	mux.HandleFunc("POST /terminate", func(w http.ResponseWriter, r *http.Request) {
		var b struct{ User string }
		json.NewDecoder(r.Body).Decode(&b)
		backendAnswer(t, w, terminate(sdk, base, b.User))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func backendAnswer(t *testing.T, w http.ResponseWriter, err error) {
	if err != nil {
		t.Errorf("app backend: %v", err)
		http.Error(w, err.Error(), http.StatusBadGateway)
	}
}

// TestPusherJSAgainstTheBinary runs the real binary and drives /app/{key}
// with npm's pusher-js 8: public, private (auth signed by the Go server
// SDK) and refused private channels, client events, presence with two
// users (one on two connections), user sign-in with an event to the user,
// terminate_connections, and reconnecting (and subscribing again) after
// the node restarts.
func TestPusherJSAgainstTheBinary(t *testing.T) {
	node := nodeWith(t, "pusher-js")
	bin := buildBinary(t)
	env := crashEnv(t, "PUSHGATE_HTTP_ADDR="+freeAddr(t))
	p := startProcess(t, bin, env)
	creds := parseCredentials(t, p.out)
	if code := p.call(t, creds.APIKey, "PATCH", "/v1/app", map[string]any{"clientEvents": true}, nil); code != 200 {
		t.Fatalf("enable client events: %d", code)
	}
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(p.base, "http://"))
	sdk := &pusher.Client{AppID: creds.AppID, Key: creds.Key, Secret: creds.Secret, Host: host + ":" + port}
	be := appBackend(t, sdk, p.base, func() {
		// A restart where the clients are: shut down (4200), then serve again.
		start := time.Now()
		p.cmd.Process.Signal(syscall.SIGTERM)
		p.cmd.Wait()
		t.Logf("stopped in %v", time.Since(start))
		startProcess(t, bin, env)
		t.Logf("restarted in %v", time.Since(start))
	})
	setup, _ := json.Marshal(map[string]any{"host": host, "port": port, "key": creds.Key, "backend": be.URL})
	setupFile := filepath.Join(t.TempDir(), "setup.json")
	if err := os.WriteFile(setupFile, setup, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("..", "..", "test", "js", "pusher-js.mjs"), setupFile)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	t.Logf("pusher-js saw %s", out)
	var r pusherResults
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("results %s: %v", out, err)
	}
	checkPusherChannels(t, &r)
	checkPusherPresence(t, &r)
	if r.UserEvent["hi"] != "alice" {
		t.Errorf("event to the user: %v", r.UserEvent)
	}
	if r.AfterTerminate.State == "connected" || slicesContain(r.AfterTerminate.States, "connected") {
		t.Errorf("after terminate_connections: %+v, want disconnected for good", r.AfterTerminate)
	}
	if r.AfterRestart.Event["n"] != 2.0 || !slicesContain(r.AfterRestart.States, "connected") {
		t.Errorf("after a restart of the node: %+v, want reconnected and subscribed again", r.AfterRestart)
	}
}

func slicesContain(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func checkPusherChannels(t *testing.T, r *pusherResults) {
	t.Helper()
	if len(r.SocketIDs) != 2 || r.SocketIDs[0] == "" || r.SocketIDs[0] == r.SocketIDs[1] {
		t.Errorf("socket ids %v", r.SocketIDs)
	}
	if r.Public["x"] != 1.0 {
		t.Errorf("public event %v", r.Public)
	}
	if !reflect.DeepEqual(r.PrivateSubscribed, []bool{true, true}) || len(r.Private) != 2 || r.Private[0]["id"] != 7.0 || r.Private[1]["id"] != 7.0 {
		t.Errorf("private: %v %v", r.PrivateSubscribed, r.Private)
	}
	if d, ok := r.PrivateDenied.(map[string]any); !ok || d["status"] != 403.0 {
		t.Errorf("refused by the auth endpoint: %v", r.PrivateDenied)
	}
	if r.ClientEvent["on"] != true || r.ClientEventEcho != 0 {
		t.Errorf("client event %v, echoed %d times", r.ClientEvent, r.ClientEventEcho)
	}
}

func checkPusherPresence(t *testing.T, r *pusherResults) {
	t.Helper()
	if r.PresenceFirst.Count != 1 || r.PresenceFirst.Me.ID != "alice" {
		t.Errorf("alice alone: %+v", r.PresenceFirst)
	}
	if r.PresenceBob.Count != 2 || !reflect.DeepEqual(r.PresenceBob.IDs, []string{"alice", "bob"}) {
		t.Errorf("bob joins: %+v", r.PresenceBob)
	}
	if r.PresenceAlice2.Count != 2 {
		t.Errorf("alice's second connection sees %d members, want 2", r.PresenceAlice2.Count)
	}
	if !reflect.DeepEqual(r.PresenceEvents.Added, []string{"bob"}) || !reflect.DeepEqual(r.PresenceEvents.Removed, []string{"bob"}) {
		t.Errorf("member events seen by alice: %+v, want bob added and removed once", r.PresenceEvents)
	}
}

// terminate calls terminate_connections, signed by hand as Pusher
// documents it (pusher-http-go v5.1.1 has no call for it).
func terminate(sdk *pusher.Client, base, user string) error {
	path := "/apps/" + sdk.AppID + "/users/" + user + "/terminate_connections"
	q := "auth_key=" + sdk.Key + "&auth_timestamp=" + strconv.FormatInt(time.Now().Unix(), 10) + "&auth_version=1.0"
	m := hmac.New(sha256.New, []byte(sdk.Secret))
	m.Write([]byte("POST\n" + path + "\n" + q))
	res, err := http.Post(base+path+"?"+q+"&auth_signature="+hex.EncodeToString(m.Sum(nil)), "application/json", nil)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		b, _ := io.ReadAll(res.Body)
		return fmt.Errorf("terminate_connections: %d %s", res.StatusCode, b)
	}
	return nil
}

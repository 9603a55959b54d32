package providertest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushgate/pushgate"
)

// HMSFake is a local stand-in for Huawei's OAuth 2.0 token endpoint
// (AuthURL, client credentials) and Push Kit's v1 send API (PushURL). It
// trusts only the apps it created, issues access tokens for them, and
// checks every send the way Push Kit does before accepting it: the bearer
// token of the app in the path, the message's shape, 1 to 1000 tokens.
// All methods are safe for concurrent use.
type HMSFake struct {
	URL     string
	AuthURL string // URL + "/oauth2/v3/token"
	PushURL string // URL + "/v1"

	mu      sync.Mutex
	apps    map[string]string   // app id → secret
	grants  map[string]hmsGrant // access token → grant
	illegal map[string]bool     // tokens answered as illegal
	next    []HMSReply          // scripted answers, first first
	sent    []HMSMessage        // accepted, one per token
	life    time.Duration       // access token lifetime

	seq, issued, requests, tokenRequests atomic.Int64
}

type hmsGrant struct {
	appID   string
	expires time.Time
}

// HMSReply is a scripted answer to a send.
type HMSReply struct {
	Status     int
	Code       string
	Msg        string
	RetryAfter string
}

// HMSMessage is a message the fake accepted for one token.
type HMSMessage struct {
	AppID string
	Token string
	// Data is message.data (a string, as Push Kit takes it).
	Data    string
	Android map[string]any
	// Tokens is how many tokens shared the request.
	Tokens int
}

// NewHMS starts a fake, closed when t ends.
func NewHMS(t testing.TB) *HMSFake {
	f := &HMSFake{apps: map[string]string{}, grants: map[string]hmsGrant{}, illegal: map[string]bool{}, life: time.Hour}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	f.URL, f.AuthURL, f.PushURL = srv.URL, srv.URL+"/oauth2/v3/token", srv.URL+"/v1"
	return f
}

// NewApp registers an app and returns its id and secret.
func (f *HMSFake) NewApp() (appID, secret string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	appID = strconv.FormatInt(100000000+f.seq.Add(1), 10)
	secret = pushgate.RandomToken(32)
	f.apps[appID] = secret
	return appID, secret
}

// SetTokenLifetime sets expires_in of the access tokens issued from now on.
func (f *HMSFake) SetTokenLifetime(d time.Duration) { f.mu.Lock(); f.life = d; f.mu.Unlock() }

// ExpireTokens makes every access token issued so far expired.
func (f *HMSFake) ExpireTokens() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, g := range f.grants {
		g.expires = time.Time{}
		f.grants[k] = g
	}
}

// Unregister makes the fake refuse token as illegal (a partial success,
// or 80300007 when every token of a request is illegal).
func (f *HMSFake) Unregister(token string) { f.mu.Lock(); f.illegal[token] = true; f.mu.Unlock() }

// FailNext answers the next n sends with r, whatever they hold.
func (f *HMSFake) FailNext(n int, r HMSReply) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		f.next = append(f.next, r)
	}
}

// Delivered returns the accepted messages, one per token, in order.
func (f *HMSFake) Delivered() []HMSMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]HMSMessage(nil), f.sent...)
}

// TokensIssued is how many access tokens the fake issued; Requests how
// many sends it answered.
func (f *HMSFake) TokensIssued() int64 { return f.issued.Load() }

// TokenRequests is how many requests reached the token endpoint.
func (f *HMSFake) TokenRequests() int64 { return f.tokenRequests.Load() }

// Requests is how many send requests reached the fake.
func (f *HMSFake) Requests() int64 { return f.requests.Load() }

var hmsSendPath = regexp.MustCompile(`^/v1/([0-9]+)/messages:send$`)

func (f *HMSFake) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/oauth2/v3/token":
		f.token(w, r)
	case r.Method == http.MethodPost && hmsSendPath.MatchString(r.URL.Path):
		f.send(w, r, hmsSendPath.FindStringSubmatch(r.URL.Path)[1])
	default:
		http.NotFound(w, r)
	}
}

func (f *HMSFake) token(w http.ResponseWriter, r *http.Request) {
	f.tokenRequests.Add(1)
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") || r.ParseForm() != nil {
		hmsJSON(w, 400, map[string]any{"error": 1102, "error_description": "the request is not a form"})
		return
	}
	id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	f.mu.Lock()
	defer f.mu.Unlock()
	want, ok := f.apps[id]
	switch {
	case r.PostForm.Get("grant_type") != "client_credentials":
		hmsJSON(w, 400, map[string]any{"error": 1102, "error_description": "unsupported grant_type"})
	case !ok || secret == "" || secret != want:
		hmsJSON(w, 400, map[string]any{"error": 1101, "sub_error": 20109, "error_description": "invalid client_secret"})
	default:
		tok := fmt.Sprintf("hms-%d-%s", f.issued.Add(1), pushgate.RandomToken(16))
		f.grants[tok] = hmsGrant{appID: id, expires: time.Now().Add(f.life)}
		hmsJSON(w, 200, map[string]any{"access_token": tok, "expires_in": int(f.life / time.Second), "token_type": "Bearer"})
	}
}

func hmsJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func hmsAnswer(w http.ResponseWriter, status int, code, msg string) {
	hmsJSON(w, status, map[string]string{"code": code, "msg": msg, "requestId": pushgate.RandomToken(8)})
}

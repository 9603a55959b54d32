package hostile

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/server"
)

// internalHosts are literal addresses (as a URL's host) a tenant's URL must
// never reach: every one is refused when the URL is given.
var internalHosts = []string{
	"127.0.0.1", "127.1", "127.0.0.1.", "0.0.0.0", "0",
	"10.0.0.1", "172.16.0.1", "192.168.0.1",
	"169.254.169.254", "100.64.0.1", "100.100.100.200",
	"192.0.0.1", "198.18.0.1", "240.0.0.1", "255.255.255.255", "224.0.0.1",
	"[::1]", "[::]", "[fd00::1]", "[fe80::1]", "[fec0::1]", "[ff02::1]",
	"[::ffff:127.0.0.1]", "[::ffff:169.254.169.254]", "[::ffff:a9fe:a9fe]",
	"[::169.254.169.254]", "[::a9fe:a9fe]", // IPv4-compatible
	"[64:ff9b::a9fe:a9fe]", "[64:ff9b::169.254.169.254]", "[64:ff9b:1::a9fe:a9fe]", // NAT64
	"[2002:a9fe:a9fe::]", // 6to4
	"[2001::a9fe:a9fe]",  // Teredo
	"2130706433", "2852039166", "0x7f.1", "0x7f000001", "017700000001", "0177.0.0.1",
	"0xa9.0xfe.0xa9.0xfe", "0251.0376.0251.0376", "169.254.43518",
	"public@127.0.0.1", "public@169.254.169.254",
}

// An outbound path is a place in the API where a tenant names a URL that
// pushgate will fetch or post to.
type outbound struct {
	name   string
	field  string // how its errors name the field
	scheme string
}

var outbounds = []outbound{
	{"callback URL", "url", "http"},
	{"data context image", "image", "http"},
	{"data context icon", "icon", "http"},
	{"data context action icon", "icon", "http"},
	{"raw context imageUrl", "imageUrl", "http"},
	{"raw context chromium badge", "badge", "http"},
	{"Web Push endpoint", "endpoint", "https"},
	{"FCM token_uri", "token_uri", "https"},
	{"HMS authUrl", "authUrl", "https"},
	{"HMS pushUrl", "pushUrl", "https"},
	{"notification imageUrl", "imageUrl", "http"},
	{"connectAuthUrl", "connectAuthUrl", "https"},
	{"channelWebhookUrl", "channelWebhookUrl", "http"},
}

// ssrfNode is a node whose SSRF guard allows only 127.0.0.2, where origin
// serves what the suite needs: a push service that accepts everything
// (/push/), images (/img.png), redirects (/redirect?to=) and nothing for
// FCM (/fcm/).
type ssrfNode struct {
	*node
	origin   *httptest.Server
	vapidPub string
	vapidKey string
	account  []byte
}

func newSSRFNode(t *testing.T, backend string, roles []string) *ssrfNode {
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		skipCases(t, "ssrf: ", "no second loopback address to serve the allowed origin from: %v", err)
	}
	png := testPNG(32, 32)
	origin := httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/push/"):
			rw.WriteHeader(http.StatusCreated)
		case r.URL.Path == "/redirect":
			http.Redirect(rw, r, r.URL.Query().Get("to"), http.StatusFound)
		case r.URL.Path == "/img.png":
			rw.Header().Set("Content-Type", "image/png")
			rw.Write(png)
		default:
			http.NotFound(rw, r)
		}
	}))
	origin.Listener.Close()
	origin.Listener = ln
	origin.Start()
	t.Cleanup(origin.Close)

	cfg := nodeConfig(t, backend)
	cfg.Roles = roles
	cfg.SSRFAllow = "127.0.0.2/32"
	cfg.WebPushAllowHTTP = true
	// A replaced FCM endpoint is the setup in which a service account's
	// token_uri is not held to Google's (defect 5).
	cfg.FCMEndpoint = origin.URL + "/fcm/v1"
	cfg.WebhookFlushInterval = 100 * time.Millisecond
	cfg.WebhookMinBackoff = 100 * time.Millisecond
	cfg.DeliveryMaxAttempts = 1
	s := &ssrfNode{node: startNode(t, cfg), origin: origin}
	s.vapidPub, s.vapidKey = vapidKeys()
	s.account = serviceAccount()
	return s
}

// serviceAccount is a Google service account key whose token_uri each case
// replaces; only its shape matters, no token is ever granted.
func serviceAccount() []byte {
	return marshal(map[string]any{
		"type": "service_account", "project_id": "shop-project", "private_key_id": "k1",
		"private_key":  rsaPEM(),
		"client_email": "push@shop-project.iam.gserviceaccount.com", "client_id": "1",
		"token_uri": "https://oauth2.googleapis.com/token",
	})
}

// rsaPEM is an RSA key in the PEM form of service accounts, made once:
// only its shape is checked.
var rsaPEM = sync.OnceValue(func() string {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
})

// attempt is one outbound URL given to the node through one path.
type attempt struct {
	refused bool     // the node refused the URL when it was given
	answer  answer   // to the request that gave it
	errors  []string // the errors of that answer
	// done reports whether the node has finished trying the URL, and
	// anything wrong with how it failed.
	done func() (bool, []string)
}

// give hands url to the node through path o, as app A.
func (s *ssrfNode) give(o outbound, url string) attempt {
	key := s.admin
	if o.name == "notification imageUrl" {
		return s.notify(url)
	}
	if o.name == "connectAuthUrl" {
		return s.giveConnectAuth(url)
	}
	if o.name == "channelWebhookUrl" {
		return s.giveChannelWebhook(url)
	}
	callback := map[string]any{"type": "none"}
	if o.name == "callback URL" {
		callback = map[string]any{"type": "http", "payload": map[string]any{"url": url, "flushIntervalMs": 100}}
	}
	hms := map[string]any{"appId": "104520117", "appSecret": "hostile-secret"}
	if strings.HasPrefix(o.name, "HMS ") {
		hms[o.field] = url
	}
	var b struct {
		BucketID    string
		Credentials []struct{ ID, Type string }
	}
	a := s.call(key, "POST", "/v1/bucket", map[string]any{
		"providerCredentials": s.credentials(o, url),
		"callbackConfig":      callback,
	}, &b)
	if a.status != 200 {
		return refusal(a)
	}
	vapidID, fcmID := b.Credentials[0].ID, b.Credentials[1].ID
	base := "/v1/bucket/" + b.BucketID

	kind, body := "data", map[string]any{"title": "Sale"}
	switch o.name {
	case "data context image":
		body["image"] = url
	case "data context icon":
		body["icon"] = url
	case "data context action icon":
		body["actions"] = []any{map[string]any{"action": "buy", "title": "Buy", "icon": url}}
	case "raw context imageUrl":
		kind, body = "raw", map[string]any{"common": map[string]any{"title": "Sale", "imageUrl": url}}
	case "raw context chromium badge":
		kind, body = "raw", map[string]any{"chromium": map[string]any{"title": "Sale", "badge": url}}
	}
	var c struct{ ContextID string }
	if a = s.call(key, "POST", base+"/context/"+kind, body, &c); a.status != 200 {
		return refusal(a)
	}
	if strings.Contains(o.name, "context") {
		return attempt{answer: a, done: func() (bool, []string) {
			var st struct{ Status, Reason string }
			s.call(key, "GET", base+"/context/"+c.ContextID, nil, &st)
			return st.Status != "processing", nil
		}}
	}

	receiver := subscription(vapidID, s.origin.URL+"/push/1")
	switch o.name {
	case "Web Push endpoint":
		receiver = subscription(vapidID, url)
	case "FCM token_uri":
		receiver = map[string]any{"credentialId": fcmID, "token": "fcm-token:hostile"}
	case "HMS authUrl", "HMS pushUrl":
		receiver = map[string]any{"credentialId": b.Credentials[2].ID, "type": "hms/android", "token": "IQAAAACy0hostile"}
	}
	var sent struct {
		Results []struct {
			MessageID string
			Errors    []string
		}
	}
	a = s.call(key, "POST", base+"/context/"+c.ContextID+"/send", map[string]any{"receivers": []any{receiver}}, &sent)
	if a.status != 200 || len(sent.Results) != 1 {
		return refusal(a)
	}
	if r := sent.Results[0]; r.MessageID == "" {
		return attempt{refused: true, answer: a, errors: r.Errors}
	}
	msg := sent.Results[0].MessageID
	if o.name == "callback URL" {
		return attempt{answer: a, done: func() (bool, []string) {
			var list struct{ Batches []struct{ Attempts int } }
			s.call(key, "GET", base+"/webhooks", nil, &list)
			return len(list.Batches) > 0 && list.Batches[0].Attempts > 0, nil
		}}
	}
	return attempt{answer: a, done: func() (bool, []string) {
		var m struct{ Status, Reason, LastError string }
		s.call(key, "GET", base+"/message/"+msg, nil, &m)
		if m.Status == "queued" {
			return false, nil
		}
		if m.Reason == "invalid_token" {
			// Defect 7: a refused address is not a bad token.
			return true, []string{fmt.Sprintf("a refused address failed the message as invalid_token (%s)", m.LastError)}
		}
		return true, nil
	}}
}

// credentials are the bucket's for path o: vapid, fcm_v1 and hms, in that
// order, with url in the field o names when it is one of theirs.
func (s *ssrfNode) credentials(o outbound, url string) []any {
	vapid := map[string]any{"type": "vapid", "payload": map[string]any{"publicKey": s.vapidPub, "privateKey": s.vapidKey}}
	var acc map[string]any
	json.Unmarshal(s.account, &acc)
	if o.name == "FCM token_uri" {
		acc["token_uri"] = url
	}
	hms := map[string]any{"appId": "104520117", "appSecret": "hostile-secret"}
	if strings.HasPrefix(o.name, "HMS ") {
		hms[o.field] = url
	}
	return []any{vapid, map[string]any{"type": "fcm_v1", "payload": acc}, map[string]any{"type": "hms", "payload": hms}}
}

// notify sends a notification whose imageUrl is url. The node fetches the
// image before it answers: an accepted URL has been tried once the answer
// is in, and one that cannot be served must be reported in imageError.
func (s *ssrfNode) notify(url string) attempt {
	var sent struct{ ID, ImageError string }
	a := s.call(s.admin, "POST", "/v1/notifications", map[string]any{"title": "Sale", "imageUrl": url,
		"to": map[string]any{"userIds": []string{"alice"}}}, &sent)
	if a.status != 201 {
		return refusal(a)
	}
	return attempt{answer: a, done: func() (bool, []string) {
		if sent.ImageError == "" {
			return true, []string{fmt.Sprintf("the notification with image %s was sent without an imageError: %s", url, a)}
		}
		return true, nil
	}}
}

// giveConnectAuth sets url as app A's connectAuthUrl; once accepted, a
// connection with a cookie and no client token makes the node call it.
func (s *ssrfNode) giveConnectAuth(url string) attempt {
	var app struct{ Key string }
	a := s.call(s.admin, "PATCH", "/v1/app", map[string]any{"connectAuthUrl": url}, &app)
	if a.status != 200 {
		return refusal(a)
	}
	return attempt{answer: a, done: func() (bool, []string) {
		sse := s.do(request{method: "GET", path: "/v1/sse?app=" + app.Key, header: http.Header{"Cookie": {"session=1"}}})
		if sse.status != 503 {
			return true, []string{fmt.Sprintf("a connection to an app whose connectAuthUrl is refused: %s, want 503", sse)}
		}
		return true, nil
	}}
}

// giveChannelWebhook sets url as app A's channelWebhookUrl; once
// accepted, a Pusher connection subscribes to a channel of its own, whose
// channel_occupied the node then tries to post there.
func (s *ssrfNode) giveChannelWebhook(url string) attempt {
	var app struct{ Key string }
	a := s.call(s.admin, "PATCH", "/v1/app", map[string]any{"channelWebhookUrl": url}, &app)
	if a.status != 200 {
		return refusal(a)
	}
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+s.addr+"/app/"+app.Key+"?protocol=7", nil)
	if err != nil {
		return attempt{answer: a, done: func() (bool, []string) { return true, []string{"pusher connection: " + err.Error()} }}
	}
	channel := "ssrf-" + pushgate.RandomToken(8)
	err = ws.WriteMessage(websocket.TextMessage, []byte(`{"event":"pusher:subscribe","data":{"channel":"`+channel+`"}}`))
	since := time.Now()
	return attempt{answer: a, done: func() (bool, []string) {
		// No API lists an app's channel webhook batches: twenty of this
		// node's flush intervals and first backoffs pass instead.
		if time.Since(since) < 2*time.Second {
			return false, nil
		}
		ws.Close()
		if err != nil {
			return true, []string{"pusher subscribe: " + err.Error()}
		}
		return true, nil
	}}
}

func refusal(a answer) attempt {
	_, errs, _ := errorOf(a)
	return attempt{refused: a.status == 400, answer: a, errors: errs}
}

// namesField reports whether one of errs names field or the URL.
func namesField(errs []string, field, url string) bool {
	for _, e := range errs {
		if strings.Contains(e, field) || strings.Contains(e, url) {
			return true
		}
	}
	return false
}

// TestSSRFRefusedAtCreation gives every literal internal address through
// every outbound path, to a node that only takes requests (no worker: it
// never fetches what it accepted). Each must be refused at once with a 400
// (for a Web Push receiver, its own result) naming the field.
func TestSSRFRefusedAtCreation(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, backend string) {
		s := newSSRFNode(t, backend, []string{server.RoleAPI})
		type result struct {
			name string
			p    []string
		}
		var cases []func() result
		for _, o := range outbounds {
			for _, host := range internalHosts {
				cases = append(cases, func() result {
					url := fmt.Sprintf("%s://%s/hostile", o.scheme, host)
					at := s.give(o, url)
					var p []string
					switch {
					case at.answer.err != nil:
						p = append(p, "no answer: "+at.answer.err.Error())
					case at.answer.status >= 500:
						p = append(p, "server error: "+at.answer.String())
					case !at.refused:
						p = append(p, fmt.Sprintf("%s %s was accepted: %s", o.name, url, at.answer))
					case !namesField(at.errors, o.field, url):
						p = append(p, fmt.Sprintf("%s %s was refused without naming the field: %q", o.name, url, at.errors))
					}
					return result{name: fmt.Sprintf("ssrf: %s %s is refused", o.name, host), p: append(p, errorShape(at.answer)...)}
				})
			}
		}
		results := make([]result, len(cases))
		run(len(cases), 8, func(i int) { results[i] = cases[i]() })
		for _, r := range results {
			t.Run(r.name, func(t *testing.T) { judge(t, backend, r.name, r.p) })
		}
		s.alive()
	})
}

// loopbackHosts reach a listener on the loopback interface; port is filled
// in. localhost is a name: it may be accepted, and must fail when dialled.
var loopbackHosts = []string{
	"127.0.0.1:%d", "0.0.0.0:%d", "[::1]:%d", "[::]:%d", "[::ffff:127.0.0.1]:%d",
	"localhost:%d", "public@127.0.0.1:%d",
}

// TestSSRFNeverConnects gives URLs that reach loopback listeners of the
// test through every outbound path, and through a redirect of an allowed
// image origin, to a full node, and waits until the node has tried each.
// No listener may ever see a connection.
func TestSSRFNeverConnects(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, backend string) {
		s := newSSRFNode(t, backend, []string{server.RoleAPI, server.RoleWorker})
		paths := append(outbounds[:len(outbounds):len(outbounds)], outbound{name: "image redirect", field: "image", scheme: "http"},
			outbound{name: "notification image redirect", field: "imageUrl", scheme: "http"},
			outbound{name: "channel webhook redirect", field: "channelWebhookUrl", scheme: "http"})
		type ssrfCase struct {
			name string
			sink *sink
			at   attempt
		}
		var cases []*ssrfCase
		for _, o := range paths {
			for _, host := range loopbackHosts {
				c := &ssrfCase{name: fmt.Sprintf("ssrf: %s %s never connects", o.name, strings.ReplaceAll(host, ":%d", "")), sink: newSink(t)}
				url := fmt.Sprintf("%s://%s/hostile.png", o.scheme, fmt.Sprintf(host, c.sink.port))
				switch o.name {
				case "image redirect":
					c.at = s.give(outbound{name: "data context image"}, s.origin.URL+"/redirect?to="+url)
				case "notification image redirect":
					c.at = s.notify(s.origin.URL + "/redirect?to=" + url)
				case "channel webhook redirect":
					c.at = s.giveChannelWebhook(s.origin.URL + "/redirect?to=" + url)
				default:
					c.at = s.give(o, url)
				}
				cases = append(cases, c)
			}
		}
		problems := map[*ssrfCase][]string{}
		waitFor(30*time.Second, func() bool {
			all := true
			for _, c := range cases {
				if c.at.refused || c.at.done == nil {
					continue
				}
				done, p := c.at.done()
				if done {
					problems[c] = p
					c.at.done = nil
				}
				all = all && done
			}
			return all
		})
		time.Sleep(500 * time.Millisecond) // connections in flight land
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				p := problems[c]
				if c.at.answer.status >= 500 || c.at.answer.err != nil {
					p = append(p, "giving the URL: "+c.at.answer.String())
				}
				if c.at.done != nil {
					p = append(p, "the node had not tried the URL after 30 s")
				}
				if n := c.sink.accepted.Load(); n > 0 {
					p = append(p, fmt.Sprintf("the node connected to a loopback listener %d times", n))
				}
				judge(t, backend, c.name, p)
			})
		}
		s.alive()
	})
}

// sink is a loopback listener (IPv4 and, where there is IPv6, the same
// port on ::1) that counts the connections it accepts.
type sink struct {
	port     int
	accepted atomic.Int64
}

func newSink(t *testing.T) *sink {
	s := &sink{}
	for try := 0; ; try++ {
		v4, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s.port = v4.Addr().(*net.TCPAddr).Port
		v6, err := net.Listen("tcp6", fmt.Sprintf("[::1]:%d", s.port))
		if err != nil && try < 10 {
			v4.Close()
			continue // the port is taken on ::1; try another
		}
		for _, ln := range []net.Listener{v4, v6} {
			if ln == nil {
				continue
			}
			t.Cleanup(func() { ln.Close() })
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					s.accepted.Add(1)
					c.Close()
				}
			}()
		}
		return s
	}
}

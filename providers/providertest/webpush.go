package providertest

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/pushgate/pushgate/recipients"
)

// webPushMaxBody is the largest body push services take (RFC 8030 §7.2:
// at least 4096 bytes must be accepted; the big services refuse more).
const webPushMaxBody = 4096

// WebPushFake is a Web Push service (RFC 8030) that checks what real ones
// check: the VAPID JWT (RFC 8292), the required headers, and that the body
// is an aes128gcm message (RFC 8291) its subscriber can decrypt. It answers
// 201 Created and records what it decrypted, unless scripted otherwise.
// Safe for concurrent use.
type WebPushFake struct {
	// URL is the service's origin (scheme://host): the VAPID audience.
	URL string

	t    testing.TB
	srv  *httptest.Server
	done chan struct{} // closed at cleanup, so scripted latency never delays it

	mu         sync.Mutex
	subs       map[string]*webPushSubscriber
	deliveries []WebPushDelivery
	failures   []webPushFailure

	// Atomics keep the hot path off mu when nothing is scripted, so a
	// load test measures the client and not this fake.
	scripted  atomic.Int64
	latency   atomic.Int64
	countOnly atomic.Bool
	requests  atomic.Int64
	statuses  [600]atomic.Int64
}

// WebPushSubscription is what a browser's PushSubscription.toJSON() gives an
// application server.
type WebPushSubscription struct {
	ID       string
	Endpoint string
	P256dh   string // base64url, uncompressed P-256 point
	Auth     string // base64url, 16 bytes
}

// Receiver returns the subscription as a receiver of a VAPID credential.
func (s WebPushSubscription) Receiver(credentialID string) recipients.Receiver {
	return recipients.Receiver{CredentialID: credentialID, Endpoint: s.Endpoint, P256dh: s.P256dh, Auth: s.Auth}
}

// WebPushDelivery is one push the fake accepted.
type WebPushDelivery struct {
	Subscription WebPushSubscription
	Payload      []byte // the decrypted plaintext, padding removed
	Body         []byte // the encrypted body as received
	TTL          int
	Urgency      string // "" when the header was absent
	Topic        string
	VAPIDKey     string // the k parameter: the sender's public key, base64url
	Subject      string // the JWT's sub claim
}

// WebPushCounts are the fake's counters; they are kept in every mode.
type WebPushCounts struct {
	// Requests counts every push; Accepted those answered 201 Created,
	// Rejected those answered with an error.
	Requests, Accepted, Rejected int64
	// ByStatus counts answers by HTTP status.
	ByStatus map[int]int64
}

// WebPushReply is a scripted answer.
type WebPushReply struct {
	Status int
	// RetryAfter, when not empty, is sent as the Retry-After header as it
	// is: seconds or an HTTP date, both of which push services send.
	RetryAfter string
}

// WebPushCapture is one delivery in the form other tooling needs to decrypt
// it, e.g. npm http_ece:
//
//	const ecdh = crypto.createECDH('prime256v1');
//	ecdh.setPrivateKey(Buffer.from(c.privateKey, 'base64url'));
//	ece.decrypt(Buffer.from(c.body, 'base64'), {version: 'aes128gcm', privateKey: ecdh, authSecret: c.authSecret})
//
// and compare the result with Buffer.from(c.payload, 'base64').
type WebPushCapture struct {
	Endpoint   string `json:"endpoint"`
	Body       string `json:"body"`       // standard base64
	PrivateKey string `json:"privateKey"` // the subscriber's raw 32-byte scalar, base64url
	PublicKey  string `json:"publicKey"`  // the subscriber's uncompressed point, base64url
	AuthSecret string `json:"authSecret"` // base64url
	Payload    string `json:"payload"`    // what the fake decrypted, standard base64
}

type webPushSubscriber struct {
	sub  WebPushSubscription
	priv *ecdh.PrivateKey
	pub  []byte
	auth []byte
	// appServerKey restricts the subscription to one VAPID key (nil: any).
	appServerKey []byte
	// gone is the status every later push gets (0: the subscription lives).
	gone int
}

type webPushFailure struct {
	reply WebPushReply
	left  int
}

// NewWebPush starts a fake push service, closed when the test ends.
func NewWebPush(t testing.TB) *WebPushFake {
	t.Helper()
	f := &WebPushFake{t: t, done: make(chan struct{}), subs: map[string]*webPushSubscriber{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /push/{id}", f.push)
	f.srv = httptest.NewServer(mux)
	f.URL = f.srv.URL
	t.Cleanup(func() {
		close(f.done)
		f.srv.Close()
	})
	return f
}

// NewSubscription creates a subscriber that accepts pushes signed by any
// VAPID key.
func (f *WebPushFake) NewSubscription() WebPushSubscription {
	return f.newSubscription(nil)
}

// NewSubscriptionFor creates a subscriber restricted to one VAPID public key
// (base64url), as a browser's subscribe({applicationServerKey}) makes it:
// pushes signed with another key are refused with 403.
func (f *WebPushFake) NewSubscriptionFor(applicationServerKey string) WebPushSubscription {
	f.t.Helper()
	k, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(applicationServerKey, "="))
	if err != nil || len(k) != 65 {
		f.t.Fatalf("providertest: applicationServerKey must be a base64url P-256 point: %q", applicationServerKey)
	}
	return f.newSubscription(k)
}

func (f *WebPushFake) newSubscription(appServerKey []byte) WebPushSubscription {
	f.t.Helper()
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		f.t.Fatalf("providertest: %v", err)
	}
	auth := make([]byte, 16)
	rand.Read(auth)
	id := make([]byte, 12)
	rand.Read(id)
	s := &webPushSubscriber{priv: priv, pub: priv.PublicKey().Bytes(), auth: auth, appServerKey: appServerKey}
	s.sub = WebPushSubscription{
		ID:     base64.RawURLEncoding.EncodeToString(id),
		P256dh: base64.RawURLEncoding.EncodeToString(s.pub),
		Auth:   base64.RawURLEncoding.EncodeToString(auth),
	}
	s.sub.Endpoint = f.URL + "/push/" + s.sub.ID
	f.mu.Lock()
	f.subs[s.sub.ID] = s
	f.mu.Unlock()
	return s.sub
}

// Unregister makes every later push to s answer 410 Gone, as after the
// user unsubscribed.
func (f *WebPushFake) Unregister(s WebPushSubscription) { f.setGone(s, http.StatusGone) }

// Forget makes every later push to s answer 404 Not Found, as services do
// for expired subscriptions.
func (f *WebPushFake) Forget(s WebPushSubscription) { f.setGone(s, http.StatusNotFound) }

func (f *WebPushFake) setGone(s WebPushSubscription, status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if sub, ok := f.subs[s.ID]; ok {
		sub.gone = status
	}
}

// FailNext answers the next n pushes, whatever they hold, with r. Calls
// queue up: each applies after the ones before it are used.
func (f *WebPushFake) FailNext(n int, r WebPushReply) {
	if n <= 0 {
		return
	}
	f.mu.Lock()
	f.failures = append(f.failures, webPushFailure{reply: r, left: n})
	f.mu.Unlock()
	f.scripted.Add(int64(n))
}

// SetLatency delays every later answer by d (0: none).
func (f *WebPushFake) SetLatency(d time.Duration) { f.latency.Store(int64(d)) }

// SetCountOnly stops (true) or resumes (false) recording deliveries, for
// load tests: counters keep counting, and every push is still checked and
// decrypted.
func (f *WebPushFake) SetCountOnly(on bool) { f.countOnly.Store(on) }

// Delivered returns the recorded deliveries, in the order they were accepted.
func (f *WebPushFake) Delivered() []WebPushDelivery {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]WebPushDelivery(nil), f.deliveries...)
}

// DeliveredTo returns the recorded deliveries to s.
func (f *WebPushFake) DeliveredTo(s WebPushSubscription) []WebPushDelivery {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []WebPushDelivery
	for _, d := range f.deliveries {
		if d.Subscription.ID == s.ID {
			out = append(out, d)
		}
	}
	return out
}

// Counts returns the counters.
func (f *WebPushFake) Counts() WebPushCounts {
	c := WebPushCounts{Requests: f.requests.Load(), ByStatus: map[int]int64{}}
	for status := range f.statuses {
		if n := f.statuses[status].Load(); n > 0 {
			c.ByStatus[status] = n
		}
	}
	c.Accepted = c.ByStatus[http.StatusCreated]
	for status, n := range c.ByStatus {
		if status >= 300 {
			c.Rejected += n
		}
	}
	return c
}

// Capture returns d with the subscriber's keys, for decrypting it elsewhere.
func (f *WebPushFake) Capture(d WebPushDelivery) (WebPushCapture, error) {
	f.mu.Lock()
	s, ok := f.subs[d.Subscription.ID]
	f.mu.Unlock()
	if !ok {
		return WebPushCapture{}, fmt.Errorf("providertest: no subscription %q in this fake", d.Subscription.ID)
	}
	return WebPushCapture{
		Endpoint:   s.sub.Endpoint,
		Body:       base64.StdEncoding.EncodeToString(d.Body),
		PrivateKey: base64.RawURLEncoding.EncodeToString(s.priv.Bytes()),
		PublicKey:  s.sub.P256dh,
		AuthSecret: s.sub.Auth,
		Payload:    base64.StdEncoding.EncodeToString(d.Payload),
	}, nil
}

// WriteCaptures writes every recorded delivery as a WebPushCapture JSON file
// (webpush-0001.json, ...) into dir and returns the files' paths.
func (f *WebPushFake) WriteCaptures(dir string) ([]string, error) {
	var paths []string
	for i, d := range f.Delivered() {
		c, err := f.Capture(d)
		if err != nil {
			return paths, err
		}
		b, err := json.MarshalIndent(c, "", "  ")
		if err != nil {
			return paths, err
		}
		p := filepath.Join(dir, fmt.Sprintf("webpush-%04d.json", i+1))
		if err := os.WriteFile(p, b, 0o600); err != nil {
			return paths, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// push is POST /push/{id}. Checks run in the order a real service runs
// them: load shedding, authentication, the subscription, then the message.
func (f *WebPushFake) push(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	if d := time.Duration(f.latency.Load()); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
		case <-f.done:
		}
		t.Stop()
	}
	if fail, ok := f.nextFailure(); ok {
		if fail.reply.RetryAfter != "" {
			w.Header().Set("Retry-After", fail.reply.RetryAfter)
		}
		f.reply(w, fail.reply.Status, "scripted failure")
		return
	}
	key, subject, status, err := webPushCheckVAPID(r)
	if err != nil {
		f.reply(w, status, err.Error())
		return
	}
	f.mu.Lock()
	s, ok := f.subs[r.PathValue("id")]
	var gone int
	if ok {
		gone = s.gone
	}
	f.mu.Unlock()
	switch {
	case !ok:
		f.reply(w, http.StatusNotFound, "no such subscription")
		return
	case gone != 0:
		f.reply(w, gone, "subscription expired or unsubscribed")
		return
	case s.appServerKey != nil && !bytes.Equal(s.appServerKey, key):
		f.reply(w, http.StatusForbidden, "VAPID key differs from the subscription's applicationServerKey")
		return
	}
	d := WebPushDelivery{Subscription: s.sub, VAPIDKey: base64.RawURLEncoding.EncodeToString(key), Subject: subject}
	if d.TTL, err = webPushHeaders(r, &d); err != nil {
		f.reply(w, http.StatusBadRequest, err.Error())
		return
	}
	// One read into one buffer: this is the load tests' hot path.
	body := make([]byte, webPushMaxBody+1)
	n, err := io.ReadFull(r.Body, body)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		f.reply(w, http.StatusBadRequest, "reading body: "+err.Error())
		return
	}
	if body = body[:n]; len(body) > webPushMaxBody {
		f.reply(w, http.StatusRequestEntityTooLarge, "body over 4096 bytes")
		return
	}
	plain, err := webPushDecrypt(body, s)
	if err != nil {
		f.reply(w, http.StatusBadRequest, "cannot decrypt: "+err.Error())
		return
	}
	if !f.countOnly.Load() {
		d.Payload, d.Body = plain, body
		f.mu.Lock()
		f.deliveries = append(f.deliveries, d)
		f.mu.Unlock()
	}
	w.Header().Set("Location", f.URL+"/message/"+s.sub.ID)
	f.reply(w, http.StatusCreated, "")
}

func (f *WebPushFake) nextFailure() (webPushFailure, bool) {
	if f.scripted.Load() <= 0 {
		return webPushFailure{}, false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.failures) == 0 {
		return webPushFailure{}, false
	}
	fail := f.failures[0]
	if f.failures[0].left--; f.failures[0].left == 0 {
		f.failures = f.failures[1:]
	}
	f.scripted.Add(-1)
	return fail, true
}

func (f *WebPushFake) reply(w http.ResponseWriter, status int, msg string) {
	if status > 0 && status < len(f.statuses) {
		f.statuses[status].Add(1)
	}
	if msg == "" {
		w.WriteHeader(status)
		return
	}
	http.Error(w, msg, status)
}

// webPushCheckVAPID verifies the RFC 8292 Authorization header and returns
// the sender's public key and the JWT's subject. Absent authentication is
// 401 and invalid authentication 403, as RFC 8292 §4 suggests.
func webPushCheckVAPID(r *http.Request) (key []byte, subject string, status int, err error) {
	scheme, params, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "vapid") {
		return nil, "", http.StatusUnauthorized, errors.New(`missing "vapid" Authorization`)
	}
	var t, k string
	for _, p := range strings.Split(params, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch strings.ToLower(name) {
		case "t":
			t = value
		case "k":
			k = value
		}
	}
	if t == "" || k == "" {
		return nil, "", http.StatusUnauthorized, errors.New("vapid Authorization needs t= and k=")
	}
	key, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(k, "="))
	if err != nil {
		return nil, "", http.StatusForbidden, fmt.Errorf("vapid k: %w", err)
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), key)
	if err != nil {
		return nil, "", http.StatusForbidden, fmt.Errorf("vapid k: %w", err)
	}
	// The audience is the origin the request was addressed to: how the
	// service knows its own name, and what lets a test route another host
	// name (a browser vendor's) to this fake.
	origin := "http://" + r.Host
	if r.TLS != nil {
		origin = "https://" + r.Host
	}
	now := time.Now()
	var claims jwt.RegisteredClaims
	_, err = jwt.ParseWithClaims(t, &claims, func(*jwt.Token) (any, error) { return pub, nil },
		jwt.WithValidMethods([]string{"ES256"}), jwt.WithAudience(origin),
		jwt.WithExpirationRequired(), jwt.WithTimeFunc(func() time.Time { return now }))
	if err != nil {
		return nil, "", http.StatusForbidden, fmt.Errorf("vapid t: %w", err)
	}
	if claims.ExpiresAt.After(now.Add(24 * time.Hour)) {
		return nil, "", http.StatusForbidden, errors.New("vapid t: exp more than 24 hours ahead")
	}
	if err := webPushCheckSubject(claims.Subject); err != nil {
		return nil, "", http.StatusForbidden, err
	}
	return key, claims.Subject, 0, nil
}

func webPushCheckSubject(sub string) error {
	switch {
	case strings.HasPrefix(sub, "https://") && len(sub) > len("https://"):
		return nil
	case strings.HasPrefix(sub, "mailto:"):
		addr := strings.TrimPrefix(sub, "mailto:")
		// A doubled scheme is what a library that adds "mailto:" itself
		// makes of an already prefixed subject.
		if strings.Contains(addr, "@") && !strings.Contains(addr, ":") {
			return nil
		}
	}
	return fmt.Errorf("vapid t: sub %q is not a mailto: address or https: URL", sub)
}

// webPushHeaders checks the RFC 8030 headers, fills d from them and returns
// the TTL.
func webPushHeaders(r *http.Request, d *WebPushDelivery) (int, error) {
	ttlText := r.Header.Get("TTL")
	ttl, err := strconv.Atoi(ttlText)
	if err != nil || ttl < 0 {
		return 0, fmt.Errorf("TTL header must be a non-negative integer, got %q", ttlText)
	}
	if ce := r.Header.Get("Content-Encoding"); ce != "aes128gcm" {
		return 0, fmt.Errorf("Content-Encoding must be aes128gcm, got %q", ce)
	}
	d.Urgency = r.Header.Get("Urgency")
	switch d.Urgency {
	case "", "very-low", "low", "normal", "high":
	default:
		return 0, fmt.Errorf("Urgency %q is not very-low, low, normal or high", d.Urgency)
	}
	// A Topic header, when sent, must be a topic: an empty one is refused,
	// not taken for no topic.
	if topics, ok := r.Header["Topic"]; ok {
		d.Topic = topics[0]
		if len(topics) != 1 || !webPushValidTopic(d.Topic) {
			return 0, fmt.Errorf("Topic %q is not 1 to 32 base64url characters", strings.Join(topics, ", "))
		}
	}
	return ttl, nil
}

// webPushValidTopic is RFC 8030 §5.4's rule for a topic: 1 to 32
// characters of the URL- and filename-safe base64 alphabet. It is written
// here rather than taken from providers/webpush (whose validTopic applies
// the same rule before sending): the fake stands for the push service, so
// it must judge what the provider sends by the RFC, not by the provider's
// own code.
func webPushValidTopic(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// webPushDecrypt opens an RFC 8291 message for s: an RFC 8188 aes128gcm
// header (salt, record size, the sender's public key as key id) and one
// record, keyed by ECDH with the subscriber's key and the auth secret.
func webPushDecrypt(body []byte, s *webPushSubscriber) ([]byte, error) {
	const header = 16 + 4 + 1
	if len(body) < header {
		return nil, errors.New("shorter than the aes128gcm header")
	}
	salt, rs, idlen := body[:16], binary.BigEndian.Uint32(body[16:20]), int(body[20])
	if rs < 18 {
		return nil, fmt.Errorf("record size %d under 18", rs)
	}
	if idlen != 65 || len(body) < header+idlen {
		return nil, errors.New("key id is not the sender's uncompressed P-256 key")
	}
	senderKey, record := body[header:header+idlen], body[header+idlen:]
	if uint64(len(record)) > uint64(rs) {
		return nil, errors.New("more than one record (RFC 8291 allows one)")
	}
	sender, err := ecdh.P256().NewPublicKey(senderKey)
	if err != nil {
		return nil, fmt.Errorf("sender key: %w", err)
	}
	secret, err := s.priv.ECDH(sender)
	if err != nil {
		return nil, err
	}
	info := "WebPush: info\x00" + string(s.pub) + string(senderKey)
	ikm, err := hkdf.Key(sha256.New, secret, s.auth, info, 32)
	if err != nil {
		return nil, err
	}
	prk, err := hkdf.Extract(sha256.New, ikm, salt)
	if err != nil {
		return nil, err
	}
	cek, err := hkdf.Expand(sha256.New, prk, "Content-Encoding: aes128gcm\x00", 16)
	if err != nil {
		return nil, err
	}
	nonce, err := hkdf.Expand(sha256.New, prk, "Content-Encoding: nonce\x00", 12)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	plain, err := gcm.Open(nil, nonce, record, nil)
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	// Padding is zeros after a delimiter: 0x02 marks the last (here, only)
	// record.
	end := len(plain) - 1
	for end >= 0 && plain[end] == 0 {
		end--
	}
	if end < 0 || plain[end] != 0x02 {
		return nil, errors.New("no last-record padding delimiter")
	}
	return plain[:end], nil
}

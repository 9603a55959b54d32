package providertest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"maps"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	// APNSMaxPayload is the largest body APNS accepts for alert and
	// background notifications.
	APNSMaxPayload = 4096
	// apnsTokenMaxAge is how long Apple honours a provider token after its iat.
	apnsTokenMaxAge = time.Hour
	// apnsClockSkew is how far in the future an iat may be: Apple tolerates
	// small skew, not tokens minted ahead of time.
	apnsClockSkew = 5 * time.Minute
)

// APNSReply is a scripted answer. A 410 answer gets Apple's "timestamp".
type APNSReply struct {
	Status int
	Reason string
	// RetryAfter, when positive, is sent as a Retry-After header in whole
	// seconds (rounded up).
	RetryAfter time.Duration
}

// APNSRequest is a notification the fake accepted (answered 200).
type APNSRequest struct {
	DeviceToken string
	Topic       string
	PushType    string
	// Priority is the apns-priority header; 0 when absent.
	Priority int
	// Expiration is the apns-expiration header; zero when absent.
	Expiration time.Time
	CollapseID string
	// ApnsID is the id the fake answered with (the request's, if it sent one).
	ApnsID string
	// KeyID and TeamID identify the provider token; both are empty when the
	// client authenticated with a certificate, whose subject is in CertSubject.
	KeyID       string
	TeamID      string
	CertSubject string
	// Payload is the body as received; nil when requests are not kept.
	Payload []byte
}

// APNSFake is a local APNS: HTTP/2 over TLS, POST /3/device/{token}, with the
// provider-token and client-certificate checks Apple makes. It is safe for
// concurrent use and cheap enough per request for load tests.
type APNSFake struct {
	// URL is the fake's base URL, to use in place of Apple's host.
	URL string

	srv *httptest.Server

	// trustMu guards what the fake trusts; requests only read it.
	trustMu sync.RWMutex
	keys    map[string]apnsTrustedKey
	roots   *x509.CertPool
	topics  map[string]bool
	// trustGen invalidates the caches below whenever trust changes.
	trustGen      atomic.Int64
	verifiedToken sync.Map // bearer string → apnsVerified
	verifiedCert  sync.Map // DER of a client certificate → trustGen it was checked at

	latency     atomic.Int64 // time.Duration
	countOnly   atomic.Bool
	requests    atomic.Int64
	accepted    atomic.Int64
	rejected    atomic.Int64
	connections atomic.Int64

	mu           sync.Mutex
	tokenReplies map[string]APNSReply
	failNext     []apnsQueued
	failAll      []APNSReply // answers of an outage, taken in turn
	failAllN     int
	delivered    []APNSRequest
	rejections   map[string]int64
}

type apnsTrustedKey struct {
	teamID string
	pub    *ecdsa.PublicKey
}

type apnsVerified struct {
	gen    int64
	keyID  string
	teamID string
	iat    time.Time
}

// NewAPNS starts a fake APNS that trusts no key or certificate yet; it is
// closed when the test ends.
func NewAPNS(t testing.TB) *APNSFake {
	t.Helper()
	f := &APNSFake{
		keys:         map[string]apnsTrustedKey{},
		roots:        x509.NewCertPool(),
		tokenReplies: map[string]APNSReply{},
		rejections:   map[string]int64{},
	}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.srv.EnableHTTP2 = true
	// Requested, not required: Apple lets token-auth clients connect without
	// a certificate and answers per request.
	f.srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	f.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			f.connections.Add(1)
		}
	}
	f.srv.StartTLS()
	f.URL = f.srv.URL
	t.Cleanup(f.srv.Close)
	return f
}

// CertPool holds the fake's server certificate, for a client's RootCAs.
func (f *APNSFake) CertPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(f.srv.Certificate())
	return p
}

// CertificatePEM is the fake's TLS certificate in PEM, for processes that
// trust it through SSL_CERT_FILE.
func (f *APNSFake) CertificatePEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw})
}

// Client is an HTTP/2 client that trusts the fake (and presents no client
// certificate).
func (f *APNSFake) Client() *http.Client { return f.srv.Client() }

// TrustKey accepts provider tokens signed by pub with kid keyID and iss
// teamID. Trusting a key id again replaces its key.
func (f *APNSFake) TrustKey(keyID, teamID string, pub *ecdsa.PublicKey) {
	f.trustMu.Lock()
	f.keys[keyID] = apnsTrustedKey{teamID: teamID, pub: pub}
	f.trustGen.Add(1)
	f.trustMu.Unlock()
}

// TrustClientCert accepts client certificates issued by cert, or cert itself.
func (f *APNSFake) TrustClientCert(cert *x509.Certificate) {
	f.trustMu.Lock()
	f.roots.AddCert(cert)
	f.trustGen.Add(1)
	f.trustMu.Unlock()
}

// AllowTopics restricts the topics the fake delivers to; others are answered
// 400 TopicDisallowed. With no call, every topic is allowed.
func (f *APNSFake) AllowTopics(topics ...string) {
	f.trustMu.Lock()
	if f.topics == nil {
		f.topics = map[string]bool{}
	}
	for _, t := range topics {
		f.topics[t] = true
	}
	f.trustMu.Unlock()
}

// FailToken answers every valid request to the device token with r until
// ClearToken; a zero r restores the normal answer.
func (f *APNSFake) FailToken(token string, r APNSReply) {
	f.mu.Lock()
	if r.Status == 0 {
		delete(f.tokenReplies, token)
	} else {
		f.tokenReplies[token] = r
	}
	f.mu.Unlock()
}

// Unregister answers the device token 410 Unregistered from now on, as
// Apple does once an app is removed.
func (f *APNSFake) Unregister(token string) {
	f.FailToken(token, APNSReply{Status: http.StatusGone, Reason: "Unregistered"})
}

// ClearToken undoes FailToken and Unregister for the device token.
func (f *APNSFake) ClearToken(token string) { f.FailToken(token, APNSReply{}) }

// apnsQueued is an answer FailNext scripted, for left more requests.
type apnsQueued struct {
	left  int
	reply APNSReply
}

// FailNext answers the next n valid requests with r, before any per-token
// reply: a throttling burst or an outage. Calls queue up: FailNext(1, a);
// FailNext(1, b) answers a, then b.
func (f *APNSFake) FailNext(n int, r APNSReply) {
	if n <= 0 {
		return
	}
	f.mu.Lock()
	f.failNext = append(f.failNext, apnsQueued{left: n, reply: r})
	f.mu.Unlock()
}

// FailAll answers every valid request with rs, taken in turn (429, then
// 503, then 429...), until FailAll is called with none: a provider that
// throttles and fails for a while. It comes after FailNext's answers and
// before per-token ones.
func (f *APNSFake) FailAll(rs ...APNSReply) {
	f.mu.Lock()
	f.failAll, f.failAllN = append([]APNSReply(nil), rs...), 0
	f.mu.Unlock()
}

// SetLatency delays every answer by d (less if the client gives up first).
func (f *APNSFake) SetLatency(d time.Duration) { f.latency.Store(int64(d)) }

// SetCountOnly stops (true) or resumes (false) keeping accepted requests
// for Delivered. Load tests turn it on: requests are then only counted, so
// memory stays flat however many are sent.
func (f *APNSFake) SetCountOnly(on bool) { f.countOnly.Store(on) }

// Delivered returns a copy of the accepted requests, in arrival order.
func (f *APNSFake) Delivered() []APNSRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]APNSRequest(nil), f.delivered...)
}

// APNSCounts are the fake's counters since it started.
type APNSCounts struct {
	// Requests counts every request; Accepted those answered
	// 200, Rejected those answered with an error.
	Requests, Accepted, Rejected int64
	// Connections counts the connections clients opened, TLS handshakes
	// that failed included: Apple treats frequent connecting as an attack.
	Connections int64
	// ByReason counts the rejected requests by the reason answered.
	ByReason map[string]int64
}

// Counts returns the counters.
func (f *APNSFake) Counts() APNSCounts {
	f.mu.Lock()
	defer f.mu.Unlock()
	return APNSCounts{
		Requests: f.requests.Load(), Accepted: f.accepted.Load(), Rejected: f.rejected.Load(),
		Connections: f.connections.Load(), ByReason: maps.Clone(f.rejections),
	}
}

func (f *APNSFake) serve(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	req, fail := f.check(r)
	if fail.Status == 0 {
		fail = f.script(req.DeviceToken)
	}
	if latency := time.Duration(f.latency.Load()); latency > 0 {
		select {
		case <-time.After(latency):
		case <-r.Context().Done():
			return
		}
	}
	if req.ApnsID == "" {
		req.ApnsID = apnsNewID()
	}
	w.Header().Set("apns-id", req.ApnsID)
	if fail.Status != 0 {
		f.reject(w, fail)
		return
	}
	f.accepted.Add(1)
	if req.Payload != nil {
		f.mu.Lock()
		f.delivered = append(f.delivered, req)
		f.mu.Unlock()
	}
	w.WriteHeader(http.StatusOK)
}

func (f *APNSFake) script(token string) APNSReply {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.failNext) > 0 {
		r := f.failNext[0].reply
		if f.failNext[0].left--; f.failNext[0].left == 0 {
			f.failNext = f.failNext[1:]
		}
		return r
	}
	if len(f.failAll) > 0 {
		r := f.failAll[f.failAllN%len(f.failAll)]
		f.failAllN++
		return r
	}
	return f.tokenReplies[token]
}

func (f *APNSFake) reject(w http.ResponseWriter, r APNSReply) {
	f.rejected.Add(1)
	f.mu.Lock()
	f.rejections[r.Reason]++
	f.mu.Unlock()
	if r.RetryAfter > 0 {
		secs := (r.RetryAfter + time.Second - 1) / time.Second
		w.Header().Set("Retry-After", strconv.FormatInt(int64(secs), 10))
	}
	body := map[string]any{"reason": r.Reason}
	if r.Status == http.StatusGone {
		body["timestamp"] = time.Now().UnixMilli()
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(r.Status)
	_ = json.NewEncoder(w).Encode(body)
}

// check validates r as Apple does and returns what it asked for, or the
// answer refusing it.
func (f *APNSFake) check(r *http.Request) (APNSRequest, APNSReply) {
	var req APNSRequest
	bad := func(status int, reason string) (APNSRequest, APNSReply) {
		return req, APNSReply{Status: status, Reason: reason}
	}
	if r.ProtoMajor != 2 {
		// APNS speaks nothing but HTTP/2; no Apple reason exists for this.
		return bad(http.StatusHTTPVersionNotSupported, "HTTP2Required")
	}
	if r.Method != http.MethodPost {
		return bad(http.StatusMethodNotAllowed, "MethodNotAllowed")
	}
	token, ok := strings.CutPrefix(r.URL.Path, "/3/device/")
	if !ok || strings.Contains(token, "/") {
		return bad(http.StatusNotFound, "BadPath")
	}
	if token == "" {
		return bad(http.StatusBadRequest, "MissingDeviceToken")
	}
	req.DeviceToken = token

	if status, reason := f.authenticate(r, &req); status != 0 {
		return bad(status, reason)
	}
	if reason := apnsCheckHeaders(r.Header, &req); reason != "" {
		return bad(http.StatusBadRequest, reason)
	}
	body, fail := apnsReadPayload(r)
	if fail.Status != 0 {
		return req, fail
	}

	f.trustMu.RLock()
	disallowed := f.topics != nil && !f.topics[req.Topic]
	f.trustMu.RUnlock()
	if disallowed {
		return bad(http.StatusBadRequest, "TopicDisallowed")
	}
	if !f.countOnly.Load() {
		req.Payload = body
	}
	return req, APNSReply{}
}

// apnsCheckHeaders checks the request's headers (and the device token's
// form) as Apple does and records them in req. It returns the reason of a
// 400 answer, or "".
func apnsCheckHeaders(h http.Header, req *APNSRequest) string {
	if id := h.Get("apns-id"); id != "" {
		if !apnsIsUUID(id) {
			return "BadMessageId"
		}
		req.ApnsID = id
	}
	if token := req.DeviceToken; len(token) < 64 || len(token) > 200 || !apnsIsHex(token) {
		return "BadDeviceToken"
	}
	req.Topic = h.Get("apns-topic")
	if req.Topic == "" {
		return "MissingTopic"
	}
	req.PushType = h.Get("apns-push-type")
	switch req.PushType {
	case "alert", "background", "location", "voip", "complication", "fileprovider", "mdm", "liveactivity", "pushtotalk", "widgets", "controls":
	default:
		return "InvalidPushType"
	}
	if p := h.Get("apns-priority"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || (n != 1 && n != 5 && n != 10) || (n == 10 && req.PushType == "background") {
			return "BadPriority"
		}
		req.Priority = n
	}
	if e := h.Get("apns-expiration"); e != "" {
		n, err := strconv.ParseInt(e, 10, 64)
		if err != nil || n < 0 {
			return "BadExpirationDate"
		}
		req.Expiration = time.Unix(n, 0)
	}
	req.CollapseID = h.Get("apns-collapse-id")
	if len(req.CollapseID) > 64 {
		return "BadCollapseId"
	}
	return ""
}

// apnsReadPayload reads the body and checks that it is a payload with an
// aps dictionary, within APNSMaxPayload.
func apnsReadPayload(r *http.Request) ([]byte, APNSReply) {
	body, err := io.ReadAll(io.LimitReader(r.Body, APNSMaxPayload+1))
	if len(body) > APNSMaxPayload {
		return nil, APNSReply{Status: http.StatusRequestEntityTooLarge, Reason: "PayloadTooLarge"}
	} else if err != nil || len(body) == 0 {
		return nil, APNSReply{Status: http.StatusBadRequest, Reason: "PayloadEmpty"}
	}
	var doc struct {
		APS json.RawMessage `json:"aps"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || len(doc.APS) == 0 || doc.APS[0] != '{' {
		// Apple documents no reason for a malformed body; this one says what
		// the fake found wrong.
		return nil, APNSReply{Status: http.StatusBadRequest, Reason: "BadPayload"}
	}
	return body, APNSReply{}
}

// authenticate checks the provider token, or the client certificate when
// there is no token, and records who sent r.
func (f *APNSFake) authenticate(r *http.Request, req *APNSRequest) (int, string) {
	auth := r.Header.Get("authorization")
	if auth == "" {
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			return http.StatusForbidden, "MissingProviderToken"
		}
		leaf := r.TLS.PeerCertificates[0]
		if !f.trustsCert(leaf, r.TLS.PeerCertificates[1:]) {
			return http.StatusForbidden, "BadCertificate"
		}
		req.CertSubject = leaf.Subject.CommonName
		return 0, ""
	}
	scheme, bearer, _ := strings.Cut(auth, " ")
	if bearer = strings.TrimSpace(bearer); bearer == "" && strings.EqualFold(scheme, "bearer") {
		return http.StatusForbidden, "MissingProviderToken"
	}
	v, ok := f.verify(bearer)
	now := time.Now()
	if !ok || !strings.EqualFold(scheme, "bearer") || v.iat.After(now.Add(apnsClockSkew)) {
		return http.StatusForbidden, "InvalidProviderToken"
	}
	if now.Sub(v.iat) > apnsTokenMaxAge {
		return http.StatusForbidden, "ExpiredProviderToken"
	}
	req.KeyID, req.TeamID = v.keyID, v.teamID
	return 0, ""
}

// trustsCert reports whether leaf chains to a trusted certificate and may
// authenticate a client. Answers are cached per certificate: one connection
// carries many requests with the same one.
func (f *APNSFake) trustsCert(leaf *x509.Certificate, chain []*x509.Certificate) bool {
	gen := f.trustGen.Load()
	if g, ok := f.verifiedCert.Load(string(leaf.Raw)); ok && g.(int64) == gen {
		return true
	}
	inter := x509.NewCertPool()
	for _, c := range chain {
		inter.AddCert(c)
	}
	f.trustMu.RLock()
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:         f.roots,
		Intermediates: inter,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	f.trustMu.RUnlock()
	if err != nil {
		return false
	}
	f.verifiedCert.Store(string(leaf.Raw), gen)
	return true
}

// verify checks bearer's signature and claims against the trusted keys.
// Results are cached because clients reuse one token for up to an hour and
// an ECDSA verification per request would dominate a load test.
func (f *APNSFake) verify(bearer string) (apnsVerified, bool) {
	gen := f.trustGen.Load()
	if c, ok := f.verifiedToken.Load(bearer); ok && c.(apnsVerified).gen == gen {
		return c.(apnsVerified), true
	}
	var v apnsVerified
	claims := jwt.MapClaims{}
	parser := jwt.NewParser(jwt.WithValidMethods([]string{jwt.SigningMethodES256.Alg()}), jwt.WithoutClaimsValidation())
	_, err := parser.ParseWithClaims(bearer, claims, func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		f.trustMu.RLock()
		k, ok := f.keys[kid]
		f.trustMu.RUnlock()
		if !ok {
			return nil, fmt.Errorf("unknown key id %q", kid)
		}
		v.keyID, v.teamID = kid, k.teamID
		return k.pub, nil
	})
	if err != nil {
		return v, false
	}
	iss, _ := claims["iss"].(string)
	iat, err := claims.GetIssuedAt()
	if iss != v.teamID || err != nil || iat == nil {
		return v, false
	}
	v.iat, v.gen = iat.Time, gen
	f.verifiedToken.Store(bearer, v)
	return v, true
}

func apnsIsHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func apnsIsUUID(s string) bool {
	return len(s) == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-' &&
		apnsIsHex(s[:8]+s[9:13]+s[14:18]+s[19:23]+s[24:])
}

// apnsNewID makes an apns-id as Apple does: a random UUID, upper case.
func apnsNewID() string {
	h := apnsRandomHex(16, true)
	return h[:8] + "-" + h[8:12] + "-4" + h[13:16] + "-A" + h[17:20] + "-" + h[20:]
}

// APNSKey is a provider signing key, as a .p8 file and its identifiers.
type APNSKey struct {
	// P8 is the PKCS#8 PEM text of the private key, as Apple hands it out.
	P8      string
	KeyID   string
	TeamID  string
	Private *ecdsa.PrivateKey
}

// Public is the key the fake must trust to accept tokens signed by k.
func (k *APNSKey) Public() *ecdsa.PublicKey { return &k.Private.PublicKey }

// Token signs a provider token issued at iat, as an APNS client would.
func (k *APNSKey) Token(iat time.Time) (string, error) {
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"iss": k.TeamID, "iat": iat.Unix()})
	tok.Header["kid"] = k.KeyID
	return tok.SignedString(k.Private)
}

// APNSTestKey makes a new P-256 provider key with random 10-character key
// and team ids.
func APNSTestKey(t testing.TB) *APNSKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	apnsMust(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	apnsMust(t, err)
	return &APNSKey{
		P8:      string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		KeyID:   apnsRandomHex(5, true),
		TeamID:  apnsRandomHex(5, true),
		Private: priv,
	}
}

// APNSCert is a client certificate and its key, in PEM.
type APNSCert struct {
	CertPEM string
	KeyPEM  string
	Cert    *x509.Certificate
}

// apnsOIDUID is the subject attribute in which Apple's push certificates
// carry their bundle id.
var apnsOIDUID = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}

// APNSTestCert makes a self-signed client certificate shaped like Apple's
// push certificates: topic in the subject's UID and common name.
func APNSTestCert(t testing.TB, topic string) *APNSCert {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	apnsMust(t, err)
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	apnsMust(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName: "Apple Push Services: " + topic,
			ExtraNames: []pkix.AttributeTypeAndValue{{Type: apnsOIDUID, Value: topic}},
		},
		NotBefore:   time.Now().Add(-time.Hour),
		NotAfter:    time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	apnsMust(t, err)
	cert, err := x509.ParseCertificate(der)
	apnsMust(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(priv)
	apnsMust(t, err)
	return &APNSCert{
		CertPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		KeyPEM:  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})),
		Cert:    cert,
	}
}

// APNSTestDeviceToken makes a random device token of the usual 64 hex digits.
func APNSTestDeviceToken(t testing.TB) string { return apnsRandomHex(32, false) }

func apnsRandomHex(n int, upper bool) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	if upper {
		return strings.ToUpper(hex.EncodeToString(b))
	}
	return hex.EncodeToString(b)
}

func apnsMust(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

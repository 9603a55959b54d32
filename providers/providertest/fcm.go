package providertest

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// FCMFake is a local stand-in for Google's OAuth 2.0 token endpoint
// (URL+"/token") and the FCM v1 send API (URL+"/v1"). It trusts only the
// service accounts it generated, issues access tokens for them, and checks
// every send the way FCM does before accepting it. All methods are safe for
// concurrent use.
type FCMFake struct {
	// URL is the fake's base URL. Point the Admin SDK at URL+"/v1".
	URL string

	authMu   sync.RWMutex
	accounts map[string]*fcmAccount // by private_key_id
	grants   map[string]fcmGrant    // by access token

	scriptMu sync.Mutex
	byToken  map[string]FCMError
	next     []fcmQueued

	latency   atomic.Int64 // nanoseconds added before each send is answered
	countOnly atomic.Bool

	recMu    sync.Mutex
	messages []FCMMessage

	seq, issued, refused, requests, accepted, rejected atomic.Int64
}

// FCMMessage is a message the fake accepted.
type FCMMessage struct {
	Project      string
	Token        string
	Notification *FCMNotification
	Data         map[string]string
	Android      *FCMAndroidConfig
	// JSON is the "message" object exactly as it was received.
	JSON json.RawMessage
}

// FCMNotification is the v1 message's notification.
type FCMNotification struct {
	Title string `json:"title,omitempty"`
	Body  string `json:"body,omitempty"`
	Image string `json:"image,omitempty"`
}

// FCMAndroidConfig is the v1 message's android section, with the field
// names the Admin SDKs send.
type FCMAndroidConfig struct {
	CollapseKey            string                  `json:"collapse_key,omitempty"`
	Priority               string                  `json:"priority,omitempty"`
	TTL                    string                  `json:"ttl,omitempty"`
	RestrictedPackageName  string                  `json:"restricted_package_name,omitempty"`
	Data                   map[string]string       `json:"data,omitempty"`
	Notification           *FCMAndroidNotification `json:"notification,omitempty"`
	FCMOptions             json.RawMessage         `json:"fcm_options,omitempty"`
	DirectBootOK           bool                    `json:"direct_boot_ok,omitempty"`
	BandwidthConstrainedOK bool                    `json:"bandwidth_constrained_ok,omitempty"`
	RestrictedSatelliteOK  bool                    `json:"restricted_satellite_ok,omitempty"`
}

// FCMAndroidNotification is android.notification.
type FCMAndroidNotification struct {
	Title                 string          `json:"title,omitempty"`
	Body                  string          `json:"body,omitempty"`
	Icon                  string          `json:"icon,omitempty"`
	Color                 string          `json:"color,omitempty"`
	Sound                 string          `json:"sound,omitempty"`
	Tag                   string          `json:"tag,omitempty"`
	ClickAction           string          `json:"click_action,omitempty"`
	BodyLocKey            string          `json:"body_loc_key,omitempty"`
	BodyLocArgs           []string        `json:"body_loc_args,omitempty"`
	TitleLocKey           string          `json:"title_loc_key,omitempty"`
	TitleLocArgs          []string        `json:"title_loc_args,omitempty"`
	ChannelID             string          `json:"channel_id,omitempty"`
	Image                 string          `json:"image,omitempty"`
	Ticker                string          `json:"ticker,omitempty"`
	Sticky                bool            `json:"sticky,omitempty"`
	EventTime             string          `json:"event_time,omitempty"`
	LocalOnly             bool            `json:"local_only,omitempty"`
	NotificationPriority  string          `json:"notification_priority,omitempty"`
	DefaultSound          bool            `json:"default_sound,omitempty"`
	DefaultVibrateTimings bool            `json:"default_vibrate_timings,omitempty"`
	DefaultLightSettings  bool            `json:"default_light_settings,omitempty"`
	VibrateTimings        []string        `json:"vibrate_timings,omitempty"`
	Visibility            string          `json:"visibility,omitempty"`
	NotificationCount     *int            `json:"notification_count,omitempty"`
	LightSettings         json.RawMessage `json:"light_settings,omitempty"`
	Proxy                 string          `json:"proxy,omitempty"`
}

// FCMCounts are the fake's counters since it started. Requests counts every
// call to messages:send, the Admin SDK's own retries included; Rejected
// those answered with an error, scripted or not.
type FCMCounts struct {
	TokensIssued, TokensRefused  int64
	Requests, Accepted, Rejected int64
}

// FCMError is an error answer in FCM v1's shape. The constructors below
// give the ones FCM documents; set fields directly for anything else.
type FCMError struct {
	Status    int    // HTTP status
	Code      string // google.rpc code name, e.g. "NOT_FOUND"
	ErrorCode string // FcmError errorCode, e.g. "UNREGISTERED"; "" leaves the detail out
	Message   string
	// Field names the offending field of an INVALID_ARGUMENT (a
	// google.rpc.BadRequest detail); "" leaves it out.
	Field string
	// RetryAfter is sent as a Retry-After header in whole seconds when > 0.
	RetryAfter time.Duration
}

// FCMUnregistered is FCM's answer for a token that is no longer valid.
func FCMUnregistered() *FCMError {
	return fcmErr(404, "NOT_FOUND", "UNREGISTERED", "Requested entity was not found.", 0)
}

// FCMInvalidRegistration is FCM's answer for a malformed registration token.
func FCMInvalidRegistration() *FCMError {
	return FCMInvalidArgument("message.token", "The registration token is not a valid FCM registration token")
}

// FCMInvalidArgument is FCM's answer for a message it cannot accept.
func FCMInvalidArgument(field, message string) *FCMError {
	e := fcmErr(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", message, 0)
	e.Field = field
	return e
}

// FCMSenderIDMismatch is FCM's answer for a token of another project.
func FCMSenderIDMismatch() *FCMError {
	return fcmErr(403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH", "SenderId mismatch", 0)
}

// FCMQuotaExceeded is FCM's answer when a sending quota is exhausted.
func FCMQuotaExceeded(retryAfter time.Duration) *FCMError {
	return fcmErr(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", "Quota exceeded for sending messages.", retryAfter)
}

// FCMUnavailable is FCM's answer when it is overloaded.
func FCMUnavailable(retryAfter time.Duration) *FCMError {
	return fcmErr(503, "UNAVAILABLE", "UNAVAILABLE", "The service is currently unavailable.", retryAfter)
}

// FCMInternal is FCM's answer for an unknown internal error.
func FCMInternal() *FCMError {
	return fcmErr(500, "INTERNAL", "INTERNAL", "Internal error encountered.", 0)
}

// FCMThirdPartyAuthError is FCM's answer when the APNs certificate or Web
// Push key registered with the project was refused.
func FCMThirdPartyAuthError() *FCMError {
	return fcmErr(401, "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR", "Auth error from APNS or Web Push Service", 0)
}

func fcmErr(status int, code, errorCode, message string, retryAfter time.Duration) *FCMError {
	return &FCMError{Status: status, Code: code, ErrorCode: errorCode, Message: message, RetryAfter: retryAfter}
}

type (
	fcmAccount struct {
		email, project, tokenURI string
		key                      *rsa.PublicKey
	}
	fcmGrant struct {
		project string
		expires time.Time
	}
	fcmQueued struct {
		left int
		err  FCMError
	}
)

const (
	fcmScopeMessages = "https://www.googleapis.com/auth/firebase.messaging"
	fcmScopeCloud    = "https://www.googleapis.com/auth/cloud-platform"
)

// NewFCM starts a fake FCM that is closed when the test ends.
func NewFCM(t testing.TB) *FCMFake {
	t.Helper()
	f := &FCMFake{accounts: map[string]*fcmAccount{}, grants: map[string]fcmGrant{}, byToken: map[string]FCMError{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", f.handleToken)
	mux.HandleFunc("POST /v1/projects/{project}/messages:send", f.handleSend)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

// ServiceAccountJSON returns a new service account of projectID, in the
// JSON form Google issues, whose key the fake trusts and whose token_uri is
// the fake's token endpoint.
func (f *FCMFake) ServiceAccountJSON(projectID string) []byte {
	return f.serviceAccount(projectID, true)
}

// UntrustedServiceAccountJSON is like ServiceAccountJSON but the fake does
// not know its key, as Google would not know a deleted or forged one.
func (f *FCMFake) UntrustedServiceAccountJSON(projectID string) []byte {
	return f.serviceAccount(projectID, false)
}

func (f *FCMFake) serviceAccount(projectID string, trusted bool) []byte {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(fmt.Sprintf("providertest: generating an RSA key: %v", err))
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	n := f.seq.Add(1)
	acc := &fcmAccount{email: fmt.Sprintf("pushgate-%d@%s.iam.gserviceaccount.com", n, projectID),
		project: projectID, tokenURI: f.URL + "/token", key: &key.PublicKey}
	kid := strings.ToLower(rand.Text())
	if trusted {
		f.authMu.Lock()
		f.accounts[kid] = acc
		f.authMu.Unlock()
	}
	b, _ := json.MarshalIndent(map[string]string{
		"type":           "service_account",
		"project_id":     projectID,
		"private_key_id": kid,
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   acc.email,
		"client_id":      strconv.FormatInt(100000000000000000+n, 10),
		"token_uri":      acc.tokenURI,
	}, "", "  ")
	return b
}

// FailToken makes every send to token answer e until ClearToken.
func (f *FCMFake) FailToken(token string, e *FCMError) {
	f.scriptMu.Lock()
	defer f.scriptMu.Unlock()
	f.byToken[token] = *e
}

// Unregister makes token unregistered, as when the app is uninstalled.
func (f *FCMFake) Unregister(token string) { f.FailToken(token, FCMUnregistered()) }

// ClearToken undoes FailToken and Unregister for token.
func (f *FCMFake) ClearToken(token string) {
	f.scriptMu.Lock()
	defer f.scriptMu.Unlock()
	delete(f.byToken, token)
}

// FailNext makes the next n well-formed, authenticated sends, whatever
// their token, answer e. Calls queue up: FailNext(1, a); FailNext(1, b)
// answers a, then b.
func (f *FCMFake) FailNext(n int, e *FCMError) {
	if n <= 0 {
		return
	}
	f.scriptMu.Lock()
	defer f.scriptMu.Unlock()
	f.next = append(f.next, fcmQueued{left: n, err: *e})
}

// SetLatency delays the answer to every send by d (0: none). A send whose
// client gives up first is not answered.
func (f *FCMFake) SetLatency(d time.Duration) { f.latency.Store(int64(d)) }

// SetCountOnly stops (true) or resumes (false) recording accepted messages;
// the counters keep counting. Load tests use it to keep memory flat.
func (f *FCMFake) SetCountOnly(on bool) { f.countOnly.Store(on) }

// Delivered returns the accepted messages, in the order accepted. The slice
// is a copy; the messages are shared, so treat them as read-only.
func (f *FCMFake) Delivered() []FCMMessage {
	f.recMu.Lock()
	defer f.recMu.Unlock()
	return slices.Clone(f.messages)
}

// DeliveredTo returns the accepted messages sent to token, read-only too.
func (f *FCMFake) DeliveredTo(token string) []FCMMessage {
	return slices.DeleteFunc(f.Delivered(), func(m FCMMessage) bool { return m.Token != token })
}

// Counts returns the counters.
func (f *FCMFake) Counts() FCMCounts {
	return FCMCounts{TokensIssued: f.issued.Load(), TokensRefused: f.refused.Load(),
		Requests: f.requests.Load(), Accepted: f.accepted.Load(), Rejected: f.rejected.Load()}
}

// handleToken is the OAuth 2.0 JWT-bearer grant (RFC 7523) as Google runs it.
func (f *FCMFake) handleToken(w http.ResponseWriter, r *http.Request) {
	refuse := func(code, desc string) {
		f.refused.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
	}
	if gt := r.PostFormValue("grant_type"); gt != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		refuse("unsupported_grant_type", "Invalid grant_type: "+gt)
		return
	}
	acc, err := f.verifyAssertion(r.PostFormValue("assertion"))
	if err != nil {
		refuse("invalid_grant", err.Error())
		return
	}
	token := "ya29.fake-" + rand.Text()
	f.authMu.Lock()
	f.grants[token] = fcmGrant{project: acc.project, expires: time.Now().Add(time.Hour)}
	f.authMu.Unlock()
	f.issued.Add(1)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": token, "token_type": "Bearer", "expires_in": 3600})
}

// verifyAssertion checks a service account's signed assertion as Google's
// token endpoint does and returns the account it names.
func (f *FCMFake) verifyAssertion(assertion string) (*fcmAccount, error) {
	var acc *fcmAccount
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(assertion, claims, func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		f.authMu.RLock()
		defer f.authMu.RUnlock()
		if acc = f.accounts[kid]; acc == nil && kid == "" {
			for _, a := range f.accounts {
				if iss, _ := claims.GetIssuer(); a.email == iss {
					acc = a
				}
			}
		}
		if acc == nil {
			return nil, errors.New("account not found")
		}
		return acc.key, nil
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(30*time.Second))
	if err != nil {
		return nil, fmt.Errorf("Invalid JWT: %v", err)
	}
	iss, _ := claims.GetIssuer()
	aud, _ := claims.GetAudience()
	iat, _ := claims.GetIssuedAt()
	exp, _ := claims.GetExpirationTime()
	scope, _ := claims["scope"].(string)
	scopes := strings.Fields(scope)
	switch {
	case iss != acc.email:
		return nil, fmt.Errorf("Invalid JWT: iss %q is not the key's service account", iss)
	case len(aud) != 1 || aud[0] != acc.tokenURI:
		return nil, fmt.Errorf("Invalid JWT: aud %q is not %s", aud, acc.tokenURI)
	case iat == nil || exp.Sub(iat.Time) > time.Hour:
		return nil, errors.New("Invalid JWT: exp must be at most one hour after iat")
	case !slices.Contains(scopes, fcmScopeMessages) && !slices.Contains(scopes, fcmScopeCloud):
		return nil, fmt.Errorf("Invalid JWT: scope %q allows no FCM sends", scope)
	}
	return acc, nil
}

func (f *FCMFake) handleSend(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	// The body is read first: only then does the server notice a client
	// that gave up, which ends the latency wait.
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if d := time.Duration(f.latency.Load()); err == nil && d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		}
	}
	project := r.PathValue("project")
	msg, validateOnly, e := fcmDecode(body)
	if err != nil {
		e = FCMInvalidArgument("", "Could not read the request body.")
	}
	// FCM authenticates before it looks at the message.
	if ae := f.authorize(r.Header.Get("Authorization"), project); ae != nil {
		e = ae
	}
	if e == nil {
		e = f.scripted(msg.Token)
	}
	if e != nil {
		f.reject(w, e)
		return
	}
	id := f.seq.Add(1)
	if !validateOnly {
		f.accepted.Add(1)
		if !f.countOnly.Load() {
			msg.Project = project
			f.recMu.Lock()
			f.messages = append(f.messages, msg)
			f.recMu.Unlock()
		}
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_, _ = io.WriteString(w, `{"name":"projects/`+project+`/messages/0:`+strconv.FormatInt(id, 10)+`"}`)
}

// authorize checks the bearer token as FCM does: unknown or expired tokens
// are unauthenticated, tokens of another project's account are denied.
func (f *FCMFake) authorize(header, project string) *FCMError {
	token, _ := strings.CutPrefix(header, "Bearer ")
	f.authMu.RLock()
	g, ok := f.grants[token]
	f.authMu.RUnlock()
	switch {
	case !ok || time.Now().After(g.expires):
		return fcmErr(401, "UNAUTHENTICATED", "", "Request had invalid authentication credentials. Expected OAuth 2 access token.", 0)
	case g.project != project:
		return fcmErr(403, "PERMISSION_DENIED", "", "Permission 'cloudmessaging.messages.create' denied on resource "+
			"'//cloudresourcemanager.googleapis.com/projects/"+project+"' (or it may not exist).", 0)
	}
	return nil
}

// scripted returns the answer scripted for a send to token, if any: queued
// failures first, then the token's own.
func (f *FCMFake) scripted(token string) *FCMError {
	f.scriptMu.Lock()
	defer f.scriptMu.Unlock()
	if len(f.next) > 0 {
		e := f.next[0].err
		if f.next[0].left--; f.next[0].left == 0 {
			f.next = f.next[1:]
		}
		return &e
	}
	if e, ok := f.byToken[token]; ok {
		return &e
	}
	return nil
}

func (f *FCMFake) reject(w http.ResponseWriter, e *FCMError) {
	f.rejected.Add(1)
	var details []map[string]any
	if e.ErrorCode != "" {
		details = append(details, map[string]any{
			"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": e.ErrorCode})
	}
	if e.Field != "" {
		details = append(details, map[string]any{"@type": "type.googleapis.com/google.rpc.BadRequest",
			"fieldViolations": []map[string]string{{"field": e.Field, "description": e.Message}}})
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(int64((e.RetryAfter+time.Second-1)/time.Second), 10))
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(e.Status)
	body := map[string]any{"code": e.Status, "message": e.Message, "status": e.Code}
	if details != nil {
		body["details"] = details
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"error": body})
}

// fcmWireMessage is a message as FCM parses it: unknown names are refused,
// and data maps are kept raw so non-string values can be reported.
type fcmWireMessage struct {
	Name, Token, Topic, Condition string
	Data                          map[string]json.RawMessage
	Notification                  *FCMNotification
	Android                       *struct {
		FCMAndroidConfig
		Data map[string]json.RawMessage `json:"data"`
	}
	Webpush, APNS json.RawMessage
	FCMOptions    json.RawMessage `json:"fcm_options"`
}

// fcmStrict decodes one JSON value refusing unknown fields. Field names
// match case-insensitively, as Go's decoder does; FCM is stricter.
func fcmStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// fcmDecode parses and checks a send request; on failure it returns the
// INVALID_ARGUMENT FCM would answer.
func fcmDecode(body []byte) (msg FCMMessage, validateOnly bool, _ *FCMError) {
	var req struct {
		ValidateOnly bool            `json:"validate_only"`
		Message      json.RawMessage `json:"message"`
	}
	var m fcmWireMessage
	if err := fcmStrict(body, &req); err != nil {
		return msg, false, FCMInvalidArgument("", "Invalid JSON payload received. "+err.Error())
	}
	if len(req.Message) == 0 || string(req.Message) == "null" {
		return msg, false, FCMInvalidArgument("message", "Request contains an invalid argument: message is required.")
	}
	if err := fcmStrict(req.Message, &m); err != nil {
		return msg, false, FCMInvalidArgument("message", "Invalid JSON payload received. "+err.Error())
	}
	if len(slices.DeleteFunc([]string{m.Token, m.Topic, m.Condition}, func(s string) bool { return s == "" })) != 1 {
		return msg, false, FCMInvalidArgument("message", "Exactly one of token, topic or condition must be set.")
	}
	if !fcmTokenLooksValid(m.Token) {
		return msg, false, FCMInvalidRegistration()
	}
	msg = FCMMessage{Token: m.Token, Notification: m.Notification, JSON: req.Message}
	var e *FCMError
	if msg.Data, e = fcmStringMap("message.data", m.Data); e != nil {
		return msg, false, e
	}
	deviceData := msg.Data
	if a := m.Android; a != nil {
		cfg := a.FCMAndroidConfig
		if cfg.Data, e = fcmStringMap("message.android.data", a.Data); e != nil {
			return msg, false, e
		}
		if e := fcmCheckAndroid(&cfg); e != nil {
			return msg, false, e
		}
		if cfg.Data != nil {
			// FCM gives Android devices android.data instead of data.
			deviceData = cfg.Data
		}
		msg.Android = &cfg
	}
	size := 0
	for _, part := range []any{msg.Notification, deviceData} {
		if b, _ := json.Marshal(part); string(b) != "null" {
			size += len(b)
		}
	}
	if size > 4096 {
		return msg, false, FCMInvalidArgument("message", "Android message is too big")
	}
	return msg, req.ValidateOnly, nil
}

func fcmStringMap(field string, in map[string]json.RawMessage) (map[string]string, *FCMError) {
	if in == nil {
		return nil, nil
	}
	out := make(map[string]string, len(in))
	for k, v := range in {
		// FCM reserves these keys for its own use.
		if lk := strings.ToLower(k); slices.Contains([]string{"from", "notification", "message_type"}, lk) ||
			strings.HasPrefix(lk, "google") || strings.HasPrefix(lk, "gcm") {
			return nil, FCMInvalidArgument(field, "Invalid data payload key: "+k)
		}
		var s string
		if len(v) == 0 || v[0] != '"' || json.Unmarshal(v, &s) != nil {
			return nil, FCMInvalidArgument(field+"["+k+"].value",
				fmt.Sprintf("Invalid value at '%s[%s].value' (TYPE_STRING), %s", field, k, v))
		}
		out[k] = s
	}
	return out, nil
}

// fcmCheckAndroid checks the android section's values. Those of
// android.notification are left to the Admin SDK, which checks them itself.
func fcmCheckAndroid(a *FCMAndroidConfig) *FCMError {
	if a.Priority != "" && !slices.Contains([]string{"normal", "high", "NORMAL", "HIGH"}, a.Priority) {
		return FCMInvalidArgument("message.android.priority",
			fmt.Sprintf("Invalid value at 'message.android.priority', %q", a.Priority))
	}
	if secs, ok := fcmParseDuration(a.TTL); a.TTL != "" && (!ok || secs > 28*24*3600) {
		return FCMInvalidArgument("message.android.ttl",
			fmt.Sprintf(`Invalid value at 'message.android.ttl', %q: a duration like "3600s", at most 4 weeks`, a.TTL))
	}
	return nil
}

// fcmParseDuration parses a protobuf Duration in its JSON form, e.g. "3600s"
// or "1.5s" (at most nine fractional digits), and returns whole seconds.
func fcmParseDuration(s string) (int64, bool) {
	num, _ := strings.CutSuffix(s, "s")
	whole, frac, hasFrac := strings.Cut(num, ".")
	if num == s || whole == "" || hasFrac && (frac == "" || len(frac) > 9) || strings.Trim(whole+frac, "0123456789") != "" {
		return 0, false
	}
	secs, err := strconv.ParseInt(whole, 10, 64)
	return secs, err == nil
}

// fcmTokenLooksValid accepts what registration tokens are made of (or no
// token, for topic sends); FCM refuses anything else as not a valid
// registration token.
func fcmTokenLooksValid(s string) bool {
	return len(s) <= 4096 && strings.Trim(s, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-:.") == ""
}

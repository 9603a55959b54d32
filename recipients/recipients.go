package recipients

import (
	"crypto/ecdh"
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/buckets"
)

// MaxPerSend is how many receivers one send may name.
const MaxPerSend = 1000

// CheckCount refuses a send of n receivers when n is over MaxPerSend (a
// pushgate.ETOOLARGE error). It is the one check of that limit: the API
// runs it before it looks anything up, the sender before it stores.
func CheckCount(n int) error {
	if n > MaxPerSend {
		return pushgate.Errorf(pushgate.ETOOLARGE, "a send takes at most %d receivers, got %d", MaxPerSend, n)
	}
	return nil
}

// Receiver is CORE's receiver: a credential of the bucket and either a
// device token (APNS, FCM), a Web Push subscription, or the user id of a
// websocket credential's receiver (pushgate's own provider: the message
// goes to that user's inbox, on every device).
type Receiver struct {
	CredentialID string `json:"credentialId"`
	ForeignID    string `json:"foreignId,omitempty"`
	UserID       string `json:"userId,omitempty"`
	Token        string `json:"token,omitempty"`
	Endpoint     string `json:"endpoint,omitempty"`
	P256dh       string `json:"p256dh,omitempty"`
	Auth         string `json:"auth,omitempty"`
	// Type and Project are what CORE's SDK sends with a Huawei receiver
	// ({type: "hms/android", token, project}). They are checked, not
	// stored: the credential says where the message goes.
	Type    string `json:"type,omitempty"`
	Project string `json:"project,omitempty"`
}

// Options tune validation.
type Options struct {
	// AllowHTTPEndpoints accepts http:// push endpoints (test setups only).
	AllowHTTPEndpoints bool
	// Guard refuses Web Push endpoints whose host is a literal internal
	// address (an IP it refuses, localhost); names are judged when
	// sending. nil is a guard with an empty allow-list.
	Guard *pushgate.SSRFGuard
}

// MaxUserID is how many characters a websocket receiver's user id may
// have: the inbox's limit, which it checks again when it stores.
const MaxUserID = 200

// DeviceKey identifies the device (or, for a websocket receiver, the
// user) a receiver reaches: comparable, so that de-duplication needs no
// string built per receiver.
type DeviceKey struct {
	CredentialID string
	// Kind is "endpoint", "user" or "token", which Address is.
	Kind    string
	Address string
}

// Key identifies the device (or, for a websocket receiver, the user) a
// receiver reaches, for de-duplication.
func (r Receiver) Key() DeviceKey {
	switch {
	case r.Endpoint != "":
		return DeviceKey{r.CredentialID, "endpoint", r.Endpoint}
	case r.UserID != "":
		return DeviceKey{r.CredentialID, "user", r.UserID}
	}
	return DeviceKey{r.CredentialID, "token", r.Token}
}

// Address is the one text that says where the receiver is reached apart
// from a Web Push subscription: its device token, or a websocket
// receiver's user id. Stores keep it in one column; SetAddress puts it
// back.
func (r Receiver) Address() string {
	if r.UserID != "" {
		return r.UserID
	}
	return r.Token
}

// SetAddress sets what Address returned for a receiver of a credential of
// type t: the user id of a websocket receiver, the token of any other.
func (r *Receiver) SetAddress(t buckets.CredentialType, address string) {
	if t == buckets.WebSocket {
		r.UserID, r.Token = address, ""
		return
	}
	r.Token = address
}

// Validate checks r against the credential it names (nil when the bucket
// has no such credential) and returns one problem per field, or nil.
func Validate(r Receiver, cred *buckets.Credential, opts Options) []string {
	var errs []string
	add := func(field, format string, args ...any) {
		errs = append(errs, field+": "+fmt.Sprintf(format, args...))
	}
	if len(r.ForeignID) > 255 {
		add("foreignId", "must be at most 255 characters")
	} else if !pushgate.StorableText(r.ForeignID) {
		add("foreignId", "must be UTF-8 text without NUL characters")
	}
	switch {
	case r.CredentialID == "":
		add("credentialId", "is required")
		return errs
	case cred == nil:
		add("credentialId", "no credential %q in this bucket", r.CredentialID)
		return errs
	}
	switch cred.Type {
	case buckets.APNSToken, buckets.APNSCert, buckets.FCMv1, buckets.HMS, buckets.VAPID:
		if r.UserID != "" {
			add("userId", "is for websocket receivers; this credential is %s", cred.Type)
		}
	}
	switch cred.Type {
	case buckets.APNSToken, buckets.APNSCert:
		if r.Endpoint != "" || r.P256dh != "" || r.Auth != "" {
			add("endpoint", "is for Web Push receivers; an APNS receiver has a token")
		}
		// APNS device tokens are 32 bytes in hex today; Apple says they may grow.
		if !isHex(r.Token) || len(r.Token) < 64 || len(r.Token) > 200 {
			add("token", "must be an APNS device token (64 to 200 hexadecimal digits)")
		}
	case buckets.FCMv1:
		if r.Endpoint != "" || r.P256dh != "" || r.Auth != "" {
			add("endpoint", "is for Web Push receivers; an FCM receiver has a token")
		}
		if r.Token == "" || len(r.Token) > 4096 || !isTokenChars(r.Token) {
			add("token", "must be an FCM registration token")
		}
	case buckets.HMS:
		errs = append(errs, validateHMS(r)...)
	case buckets.VAPID:
		if r.Token != "" {
			add("token", "is for mobile receivers; a Web Push receiver has endpoint, p256dh and auth")
		}
		if err := checkEndpoint(r.Endpoint, opts); err != "" {
			add("endpoint", "%s", err)
		}
		if b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(r.P256dh, "=")); err != nil || len(b) != 65 {
			add("p256dh", "must be the subscription's P-256 public key (65 bytes, base64url)")
		} else if _, err := ecdh.P256().NewPublicKey(b); err != nil {
			add("p256dh", "is not a point on the P-256 curve")
		}
		if b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(r.Auth, "=")); err != nil || len(b) != 16 {
			add("auth", "must be the subscription's auth secret (16 bytes, base64url)")
		}
	case buckets.WebSocket:
		errs = append(errs, validateWebSocket(r)...)
	default:
		add("credentialId", "credential type %s cannot receive messages", cred.Type)
	}
	return errs
}

// HMSReceiverType is the type CORE's SDK gives a Huawei receiver.
const HMSReceiverType = "hms/android"

// validateHMS checks a Huawei receiver: a push token, and CORE's type and
// project when they are given.
func validateHMS(r Receiver) []string {
	var errs []string
	if r.Endpoint != "" || r.P256dh != "" || r.Auth != "" {
		errs = append(errs, "endpoint: is for Web Push receivers; an hms receiver has a token")
	}
	// Push Kit tokens are printable ASCII (letters, digits and a few
	// punctuation marks, base64's among them); they go into JSON only.
	if r.Token == "" || len(r.Token) > 512 || strings.Trim(r.Token, "+/=") == "" || !isTokenChars(strings.NewReplacer("+", "", "/", "", "=", "").Replace(r.Token)) {
		errs = append(errs, "token: must be a Huawei Push Kit token")
	}
	if r.Type != "" && r.Type != HMSReceiverType {
		errs = append(errs, fmt.Sprintf("type: must be %q for an hms credential", HMSReceiverType))
	}
	if len(r.Project) > 128 || !isTokenChars(r.Project) {
		errs = append(errs, "project: must be a Huawei project id")
	}
	return errs
}

// validateWebSocket checks a websocket receiver: a user id as the inbox
// takes it (1 to MaxUserID characters of UTF-8 text without NUL or control
// characters), and none of the device fields.
func validateWebSocket(r Receiver) []string {
	var errs []string
	if r.Token != "" || r.Endpoint != "" || r.P256dh != "" || r.Auth != "" {
		errs = append(errs, "token: a websocket receiver has a userId, not a token or a subscription")
	}
	switch {
	case r.UserID == "":
		errs = append(errs, "userId: is required for a websocket receiver")
	case !pushgate.StorableText(r.UserID) || utf8.RuneCountInString(r.UserID) > MaxUserID || strings.IndexFunc(r.UserID, unicode.IsControl) >= 0:
		errs = append(errs, fmt.Sprintf("userId: must be 1 to %d characters of UTF-8 text without NUL or control characters", MaxUserID))
	}
	return errs
}

func checkEndpoint(s string, opts Options) string {
	if s == "" {
		return "is required"
	}
	if len(s) > 2048 {
		return "must be at most 2048 characters"
	}
	u, err := url.Parse(s)
	// Hostname, not Host: "https://:443" has a Host, and would be dialled
	// on the node itself.
	if err != nil || u.Hostname() == "" {
		return "must be an absolute URL"
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && opts.AllowHTTPEndpoints:
	default:
		return "must be an https:// URL"
	}
	if err := opts.Guard.CheckHost(u); err != nil {
		return err.Error()
	}
	return ""
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return s != ""
}

func isTokenChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c == '-' || c == ':' || c == '.') {
			return false
		}
	}
	return true
}

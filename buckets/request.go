package buckets

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/pushgate/pushgate"
)

// MaxCredentials is how many provider credentials one bucket may hold. Each
// one is checked cryptographically when the bucket is created, so the bound
// also caps the work a single request can cause.
const MaxCredentials = 20

// CreateRequest is the body of CORE's POST /v1/bucket
// (com.ppg.core.CreateBucketDto).
type CreateRequest struct {
	ProviderCredentials []RawCredential `json:"providerCredentials"`
	CallbackConfig      json.RawMessage `json:"callbackConfig"`
}

// RawCredential is one entry of providerCredentials before its payload has
// been checked. Payload's shape depends on Type.
type RawCredential struct {
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
}

// ParseOptions tune how a create-bucket request is checked.
type ParseOptions struct {
	// DefaultVAPIDSubject is used for a vapid credential that names no
	// subject. Without one, such a credential is refused.
	DefaultVAPIDSubject string
	// AllowHTTPTokenURI accepts an http:// token_uri in an FCM service
	// account, so tests can point it at a local fake. Never in production:
	// the service account's signed assertion would travel in clear.
	AllowHTTPTokenURI bool
	// AllowHTTPHMS accepts http:// pushUrl and authUrl in hms credentials,
	// so tests can point them at a local fake. Never in production: the
	// app secret and the bearer token would travel in clear.
	AllowHTTPHMS bool
	// Guard refuses callback URLs and token_uris whose host is a literal
	// internal address (an IP it refuses, localhost); names are judged
	// when connecting. nil is a guard with an empty allow-list.
	Guard *pushgate.SSRFGuard
	// TokenURIGuard judges FCM token_uris instead of Guard when set: the
	// FCM provider's own guard, which also lets through the FCM endpoint
	// the operator configured (a fake or proxy serving tokens too).
	TokenURIGuard *pushgate.SSRFGuard
	// Now is the time certificates are checked against; zero means the
	// current time.
	Now time.Time
}

func (o ParseOptions) tokenURIGuard() *pushgate.SSRFGuard {
	if o.TokenURIGuard != nil {
		return o.TokenURIGuard
	}
	return o.Guard
}

func (o ParseOptions) now() time.Time {
	if o.Now.IsZero() {
		return time.Now()
	}
	return o.Now
}

// ParseCreateRequest decodes and checks the JSON body of a create-bucket
// request. It is preferred over decoding into CreateRequest first because a
// field of the wrong JSON type is then reported by its path instead of
// failing the whole decode.
//
// On success every credential has its typed payload set and an empty ID.
// Otherwise the error is a *pushgate.Error with code EINVALID listing every
// problem found; nothing is ever partly accepted.
func ParseCreateRequest(body []byte, opts ParseOptions) ([]*Credential, Callback, error) {
	var p problems
	top, ok := jsonObject(body)
	if !ok {
		return nil, Callback{}, pushgate.Invalid("the bucket request is invalid", "body: must be a JSON object")
	}
	var req CreateRequest
	// malformed marks entries already reported, which parse then skips.
	var malformed []bool
	raws, ok := jsonArray(top["providerCredentials"])
	switch {
	case isAbsent(top["providerCredentials"]):
		// parse reports it, as it does an empty list.
	case !ok:
		p.add("providerCredentials", "must be an array")
		// One placeholder, already reported, so parse does not also call
		// the list empty.
		malformed = []bool{true}
		req.ProviderCredentials = []RawCredential{{}}
	default:
		req.ProviderCredentials = make([]RawCredential, len(raws))
		malformed = make([]bool, len(raws))
		if len(raws) > MaxCredentials {
			break // parse reports the count; reading the entries is wasted work
		}
		for i, raw := range raws {
			path := fmt.Sprintf("providerCredentials[%d]", i)
			obj, ok := jsonObject(raw)
			if !ok {
				p.add(path, "must be an object with type and payload")
				malformed[i] = true
				continue
			}
			if t := obj["type"]; !isAbsent(t) && json.Unmarshal(t, &req.ProviderCredentials[i].Type) != nil {
				p.add(path+".type", "must be a string")
				malformed[i] = true
				continue
			}
			req.ProviderCredentials[i].Payload = obj["payload"]
		}
	}
	req.CallbackConfig = top["callbackConfig"]
	creds, cb := req.parse(opts, malformed, &p)
	if err := p.err(); err != nil {
		return nil, Callback{}, err
	}
	return creds, cb, nil
}

// parse skips the entries marked in malformed, which are already reported.
func (r *CreateRequest) parse(opts ParseOptions, malformed []bool, p *problems) ([]*Credential, Callback) {
	var creds []*Credential
	switch n := len(r.ProviderCredentials); {
	case n == 0:
		p.add("providerCredentials", "at least one credential is required")
	case n > MaxCredentials:
		p.add("providerCredentials", "at most %d credentials are allowed, got %d", MaxCredentials, n)
	default:
		for i, raw := range r.ProviderCredentials {
			if i < len(malformed) && malformed[i] {
				continue
			}
			if c := parseCredential(fmt.Sprintf("providerCredentials[%d]", i), raw, opts, p); c != nil {
				creds = append(creds, c)
			}
		}
	}
	cb := parseCallback("callbackConfig", r.CallbackConfig, opts.Guard, p)
	return creds, cb
}

// problems collects what is wrong with a request, one "path: reason" each,
// so a client can fix everything in one round trip.
type problems []string

func (p *problems) add(path, format string, args ...any) {
	*p = append(*p, path+": "+fmt.Sprintf(format, args...))
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return pushgate.Invalid("the bucket request is invalid", p...)
}

// isAbsent treats a missing member and an explicit null alike, as CORE's
// JavaScript clients send either for "not given".
func isAbsent(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

func jsonObject(raw json.RawMessage) (map[string]json.RawMessage, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil, false
	}
	return m, true
}

func jsonArray(raw json.RawMessage) ([]json.RawMessage, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '[' {
		return nil, false
	}
	var a []json.RawMessage
	if json.Unmarshal(raw, &a) != nil {
		return nil, false
	}
	return a, true
}

// object reads the members of one JSON object, reporting each problem under
// the object's path.
type object struct {
	path   string
	fields map[string]json.RawMessage
	p      *problems
}

func (o *object) at(name string) string { return o.path + "." + name }

func (o *object) has(name string) bool { return !isAbsent(o.fields[name]) }

// optionalString returns the member as a string, "" when absent. ok is false
// only when the member has another JSON type, which is then reported.
func (o *object) optionalString(name string) (s string, ok bool) {
	raw := o.fields[name]
	if isAbsent(raw) {
		return "", true
	}
	if json.Unmarshal(raw, &s) != nil {
		o.p.add(o.at(name), "must be a string")
		return "", false
	}
	return s, true
}

// optionalInt returns the member as a whole number within [lo, hi], 0 when
// absent; anything else is reported.
func (o *object) optionalInt(name string, lo, hi int) int {
	raw := o.fields[name]
	if isAbsent(raw) {
		return 0
	}
	var n int
	if json.Unmarshal(raw, &n) != nil || n < lo || n > hi {
		o.p.add(o.at(name), "must be a whole number from %d to %d", lo, hi)
		return 0
	}
	return n
}

// requiredString is optionalString that also reports an absent or empty
// member; ok is false whenever something was reported.
func (o *object) requiredString(name string) (string, bool) {
	s, ok := o.optionalString(name)
	if ok && strings.TrimSpace(s) == "" {
		o.p.add(o.at(name), "is required")
		return "", false
	}
	return s, ok
}

// flag reads a boolean that CORE's spec types as a boolean in one place and
// a string in another (production); clients send both, so both are taken.
// An absent member is false.
func (o *object) flag(name string) bool {
	raw := o.fields[name]
	if isAbsent(raw) {
		return false
	}
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return b
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "true":
			return true
		case "false":
			return false
		}
	}
	o.p.add(o.at(name), "must be true or false")
	return false
}

// quoted shows a client-supplied value in a message without letting a huge
// or multi-line one swamp it.
func quoted(s string) string {
	const max = 64
	if len(s) > max {
		return fmt.Sprintf("%q…", s[:max])
	}
	return fmt.Sprintf("%q", s)
}

package buckets

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

const allowedTypes = "apns_token, apns_cert, fcm_v1, hms, vapid, websocket"

// parseCredential returns nil when it has reported a problem.
func parseCredential(path string, raw RawCredential, opts ParseOptions, p *problems) *Credential {
	t := CredentialType(raw.Type)
	switch {
	case raw.Type == "":
		p.add(path+".type", "is required (one of %s)", allowedTypes)
		return nil
	case raw.Type == "fcm_legacy":
		// Refused by name: a client that still sends it needs to know why
		// and what replaces it, not that the type is unknown.
		p.add(path+".type", "fcm_legacy is not supported: Google shut the legacy FCM HTTP API down in 2024; use fcm_v1 with a service account")
		return nil
	case !t.Valid():
		p.add(path+".type", "unknown credential type %s (allowed: %s)", quoted(raw.Type), allowedTypes)
		return nil
	}
	payloadPath := path + ".payload"
	fields, isObject := jsonObject(raw.Payload)
	if t == WebSocket {
		return parseWebSocket(payloadPath, raw.Payload, fields, isObject, p)
	}
	if !isObject {
		if isAbsent(raw.Payload) {
			p.add(payloadPath, "is required")
		} else {
			p.add(payloadPath, "must be an object")
		}
		return nil
	}
	o := &object{path: payloadPath, fields: fields, p: p}
	before := len(*p)
	c := &Credential{Type: t}
	switch t {
	case APNSToken:
		c.APNSToken = parseAPNSToken(o)
	case APNSCert:
		c.APNSCert = parseAPNSCert(o, opts)
	case FCMv1:
		c.FCM = parseFCM(o, raw.Payload, opts)
	case HMS:
		c.HMS = parseHMS(o, opts)
	case VAPID:
		c.VAPID = parseVAPID(o, opts)
	}
	if len(*p) > before {
		return nil
	}
	return c
}

// parseWebSocket reads the payload of pushgate's own provider: {} (or
// none). It has nothing to configure and no secrets, and a member in it is
// refused by name rather than ignored: a client that sends one expects it
// to mean something.
func parseWebSocket(path string, payload json.RawMessage, fields map[string]json.RawMessage, isObject bool, p *problems) *Credential {
	if !isObject && !isAbsent(payload) {
		p.add(path, "must be an object")
		return nil
	}
	if len(fields) > 0 {
		names := slices.Sorted(maps.Keys(fields))
		const named = 5 // a hostile payload's thousand members are not all listed
		for _, name := range names[:min(len(names), named)] {
			p.add(memberPath(path, name), "is not a websocket credential setting (its payload is {})")
		}
		if len(names) > named {
			p.add(path, "has %d more members; it must be {}", len(names)-named)
		}
		return nil
	}
	return &Credential{Type: WebSocket}
}

// memberPath is path.name for a plain name, or path["name"] quoted.
func memberPath(path, name string) string {
	plain := name != "" && len(name) <= 64
	for i := 0; plain && i < len(name); i++ {
		plain = isAlnum(name[i]) || name[i] == '_'
	}
	if plain {
		return path + "." + name
	}
	return path + "[" + quoted(name) + "]"
}

func parseAPNSToken(o *object) *APNSTokenCredential {
	c := &APNSTokenCredential{Production: o.flag("production")}
	if s, ok := o.requiredString("key"); ok {
		key, problem := apnsSigningKey(s)
		if problem != "" {
			o.p.add(o.at("key"), "%s", problem)
		}
		c.Key = key
	}
	c.KeyID = o.appleID("keyId")
	c.TeamID = o.appleID("teamId")
	topic, ok := o.apnsTopic()
	if ok && topic == "" {
		o.p.add(o.at("appBundleId"), "is required (or websitePushId for Safari)")
	}
	c.Topic = topic
	return c
}

// apnsTopic reads appBundleId or websitePushId, reporting both at once or
// either malformed. It returns "" with ok true when neither is given, as a
// certificate can still name the topic.
func (o *object) apnsTopic() (string, bool) {
	bundle, ok1 := o.optionalString("appBundleId")
	website, ok2 := o.optionalString("websitePushId")
	if !ok1 || !ok2 {
		return "", false
	}
	name, topic := "appBundleId", bundle
	switch {
	case bundle != "" && website != "":
		o.p.add(o.path, "give appBundleId or websitePushId, not both")
		return "", false
	case website != "":
		name, topic = "websitePushId", website
	case bundle == "":
		return "", true
	}
	if !validTopic(topic) {
		o.p.add(o.at(name), "must be an identifier of letters, digits, '-' and '.' (at most 255)")
		return "", false
	}
	return topic, true
}

// validTopic follows Apple's rule for bundle identifiers. It is also what
// keeps the value safe to send as the apns-topic header.
func validTopic(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// appleID reads a key or team id: the 10 characters Apple's developer
// account shows, which go verbatim into the provider token.
func (o *object) appleID(name string) string {
	s, ok := o.requiredString(name)
	if ok && !isAppleID(s) {
		o.p.add(o.at(name), "must be 10 letters or digits")
		return ""
	}
	return s
}

func isAppleID(s string) bool {
	if len(s) != 10 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// apnsSigningKey checks the text of a .p8 file and returns it as canonical
// PEM, or a problem to report.
func apnsSigningKey(s string) (string, string) {
	const want = "a PKCS#8 P-256 private key"
	text, ok := pemText(s)
	if !ok {
		return "", "is not PEM text (or base64 of it) of " + want
	}
	block, _ := pem.Decode(text)
	if block == nil {
		return "", "is not PEM text (or base64 of it) of " + want
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		if block.Type == "EC PRIVATE KEY" {
			return "", "is not " + want + " (it is a SEC 1 key; Apple's .p8 files are PKCS#8)"
		}
		return "", "is not " + want
	}
	if k, ok := key.(*ecdsa.PrivateKey); !ok || k.Curve != elliptic.P256() {
		return "", "is not " + want + " (it is " + describeKey(key) + ")"
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: block.Bytes})), ""
}

func describeKey(key any) string {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return "an RSA key"
	case *ecdsa.PrivateKey:
		return "an ECDSA " + k.Curve.Params().Name + " key"
	case ed25519.PrivateKey:
		return "an Ed25519 key"
	case *ecdh.PrivateKey:
		return "an X25519 key"
	}
	return fmt.Sprintf("a %T", key)
}

// pemText returns the PEM text in s. Keys are also accepted base64-encoded,
// the form that survives environment variables and form fields, and with
// their newlines escaped as the two characters \n, which is what a key
// pasted from a JSON file often looks like.
func pemText(s string) ([]byte, bool) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "-----BEGIN") {
		b, err := decodeBase64(s)
		if err != nil || !bytes.Contains(b, []byte("-----BEGIN")) {
			return nil, false
		}
		s = string(b)
	}
	if !strings.Contains(s, "\n") && strings.Contains(s, `\n`) {
		s = strings.ReplaceAll(s, `\n`, "\n")
	}
	return []byte(s), true
}

// decodeBase64 accepts standard and URL-safe base64, padded or not, with
// line breaks: every form a key or a file is found in.
func decodeBase64(s string) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsSpace(r):
			return -1
		case r == '-':
			return '+'
		case r == '_':
			return '/'
		}
		return r
	}, s)
	s = strings.TrimRight(s, "=")
	if s == "" {
		return nil, errors.New("empty")
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// parseFCM accepts the service account in the two forms clients send: the
// downloaded JSON object as the payload itself (what CORE documents), or
// wrapped as {"serviceAccount": ...}, either as the object or as a string
// holding it (what a client that treats the file as opaque sends).
func parseFCM(o *object, raw json.RawMessage, opts ParseOptions) *FCMCredential {
	sa := o
	if o.has("serviceAccount") {
		path := o.at("serviceAccount")
		v := o.fields["serviceAccount"]
		var s string
		if json.Unmarshal(v, &s) == nil {
			v = json.RawMessage(s)
		}
		fields, ok := jsonObject(v)
		if !ok {
			o.p.add(path, "must be a service account JSON object, or a string holding one")
			return nil
		}
		sa = &object{path: path, fields: fields, p: o.p}
		raw = v
	}
	if !utf8.Valid(raw) {
		// It is sealed as a JSON string, which would replace the bytes that
		// are not UTF-8: what was checked would not be what is stored.
		o.p.add(sa.path, "must be UTF-8 text")
		return nil
	}
	c := &FCMCredential{ServiceAccountJSON: bytes.Clone(bytes.TrimSpace(raw))}
	if t, ok := sa.requiredString("type"); ok && t != "service_account" {
		sa.p.add(sa.at("type"), "must be \"service_account\", got %s", quoted(t))
	}
	if s, ok := sa.requiredString("project_id"); ok {
		if !validProjectID(s) {
			sa.p.add(sa.at("project_id"), "must be a Google Cloud project id")
		}
		c.ProjectID = s
	}
	if s, ok := sa.requiredString("client_email"); ok {
		if !validEmail(s) {
			sa.p.add(sa.at("client_email"), "must be an email address")
		}
		c.ClientEmail = s
	}
	if s, ok := sa.requiredString("private_key"); ok {
		key, problem := checkRSAKey(s)
		switch {
		case problem != "":
			sa.p.add(sa.at("private_key"), "%s", problem)
		case key != s:
			// The provider, like Google's libraries, reads the key with
			// pem.Decode: a form only pemText understands is stored as the
			// PEM it holds, or every send would fail as bad_credentials.
			c.ServiceAccountJSON = withMember(sa.fields, "private_key", key)
		}
	}
	if s, ok := sa.requiredString("token_uri"); ok {
		// The provider posts a signed assertion there, so in production it
		// must not travel in clear.
		u, err := url.Parse(s)
		switch {
		case err != nil || u.Hostname() == "" || u.Opaque != "" || (u.Scheme != "https" && u.Scheme != "http"):
			sa.p.add(sa.at("token_uri"), "must be an absolute https URL")
		case u.Scheme == "http" && !opts.AllowHTTPTokenURI:
			sa.p.add(sa.at("token_uri"), "must be an https URL")
		default:
			// The provider posts there; a name is judged when it does.
			if err := opts.tokenURIGuard().CheckURL(s); err != nil {
				sa.p.add(sa.at("token_uri"), "%s", err)
			}
		}
	}
	return c
}

// validProjectID keeps the id safe to put in the FCM request path. Google's
// own ids are narrower; old ones carry a "domain:" prefix.
func validProjectID(s string) bool {
	if len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && c != '-' && c != '.' && c != ':' && c != '_' {
			return false
		}
	}
	return s != ""
}

func validEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && len(s) <= 320
}

// checkRSAKey returns the PEM text of the RSA key in s: s itself when
// pem.Decode reads it as it is, or a problem to report.
func checkRSAKey(s string) (string, string) {
	const want = "a PEM RSA private key"
	text, ok := pemText(s)
	if !ok {
		return "", "is not " + want
	}
	block, _ := pem.Decode(text)
	if block == nil {
		return "", "is not " + want
	}
	if key, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		if _, ok := key.(*rsa.PrivateKey); !ok {
			return "", "is not " + want + " (it is " + describeKey(key) + ")"
		}
	} else if _, err := x509.ParsePKCS1PrivateKey(block.Bytes); err != nil {
		return "", "is not " + want
	}
	if b, _ := pem.Decode([]byte(s)); b != nil && bytes.Equal(b.Bytes, block.Bytes) {
		return s, ""
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: block.Type, Bytes: block.Bytes})), ""
}

// withMember returns the JSON object of fields with member name set to the
// string value. The other members are kept as they were sent.
func withMember(fields map[string]json.RawMessage, name, value string) []byte {
	m := maps.Clone(fields)
	m[name], _ = json.Marshal(value)
	b, _ := json.Marshal(m) // only RawMessages that are valid JSON
	return b
}

func parseVAPID(o *object, opts ParseOptions) *VAPIDCredential {
	c := &VAPIDCredential{}
	var pub []byte
	var priv *ecdh.PrivateKey
	if s, ok := o.requiredString("publicKey"); ok {
		b, err := decodeBase64(s)
		switch {
		case err != nil || len(b) != 65:
			o.p.add(o.at("publicKey"), "must be an uncompressed P-256 public key (65 bytes, base64url)")
		default:
			if _, err := ecdh.P256().NewPublicKey(b); err != nil {
				o.p.add(o.at("publicKey"), "is not a point on the P-256 curve")
			} else {
				pub = b
			}
		}
	}
	if s, ok := o.requiredString("privateKey"); ok {
		b, err := decodeBase64(s)
		switch {
		case err != nil || len(b) != 32:
			o.p.add(o.at("privateKey"), "must be a P-256 private key (32 bytes, base64url)")
		default:
			if priv, err = ecdh.P256().NewPrivateKey(b); err != nil {
				o.p.add(o.at("privateKey"), "is not a valid P-256 private key")
			}
		}
	}
	if pub != nil && priv != nil {
		// A pair that does not match would only show at send time, as every
		// push service refusing the signature.
		if !bytes.Equal(priv.PublicKey().Bytes(), pub) {
			o.p.add(o.at("publicKey"), "does not match privateKey")
		}
		c.PublicKey = base64.RawURLEncoding.EncodeToString(pub)
		c.PrivateKey = base64.RawURLEncoding.EncodeToString(priv.Bytes())
	}
	if s, ok := o.optionalString("subject"); ok {
		switch {
		case s != "" && !ValidVAPIDSubject(s):
			o.p.add(o.at("subject"), "must be mailto:<address> or an https: URL")
		case s == "" && opts.DefaultVAPIDSubject == "":
			o.p.add(o.at("subject"), "is required (no default subject is configured)")
		case s == "" && !ValidVAPIDSubject(opts.DefaultVAPIDSubject):
			o.p.add(o.at("subject"), "is required (the configured default is not a mailto: or https: URL)")
		case s == "":
			s = opts.DefaultVAPIDSubject
		}
		c.Subject = s
	}
	return c
}

// ValidVAPIDSubject reports whether s is a contact push services accept in
// a VAPID token (RFC 8292, section 2.1): a mailto: address or an https: URL.
func ValidVAPIDSubject(s string) bool {
	if len(s) > 1024 {
		return false
	}
	u, err := url.Parse(s)
	if err != nil {
		return false
	}
	switch u.Scheme {
	case "mailto":
		return u.Opaque != "" && validEmail(u.Opaque)
	case "https":
		return u.Host != "" && u.Opaque == ""
	}
	return false
}

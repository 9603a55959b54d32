package buckets

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/pushgate/pushgate"
)

const (
	// MaxCallbackURLLength bounds callbackConfig.payload.url.
	MaxCallbackURLLength = 2048
	// MaxCallbackHeaders bounds callbackConfig.payload.headers.
	MaxCallbackHeaders = 20
	// MaxCallbackBatchSize bounds callbackConfig.payload.batchSize (the
	// webhooks package's own bound).
	MaxCallbackBatchSize = 10000
	// MaxCallbackFlushIntervalMs bounds callbackConfig.payload.flushIntervalMs.
	MaxCallbackFlushIntervalMs = 3_600_000
	// maxHeaderValue keeps one bucket's headers from bloating every
	// webhook request and the sealed row.
	maxHeaderValue = 4096
)

// reservedHeader reports whether pushgate sets the header (named in lower
// case) on every webhook request. The Standard Webhooks ones are what a
// consumer verifies, so a bucket must not be able to forge or blank them;
// the others describe the body and the connection, and a wrong value would
// break the request itself.
func reservedHeader(lower string) bool {
	switch lower {
	case "webhook-id", "webhook-timestamp", "webhook-signature",
		"content-type", "content-length", "host", "transfer-encoding", "connection":
		return true
	}
	return false
}

// parseCallback reads CORE's callbackConfig. Its payload may also carry
// pushgate's batching knobs (batchSize, flushIntervalMs); other members it
// does not know are ignored, as CORE clients may send them.
func parseCallback(path string, raw json.RawMessage, guard *pushgate.SSRFGuard, p *problems) Callback {
	if isAbsent(raw) {
		p.add(path, "is required (type http with a url, or type none)")
		return Callback{}
	}
	fields, ok := jsonObject(raw)
	if !ok {
		p.add(path, "must be an object")
		return Callback{}
	}
	o := &object{path: path, fields: fields, p: p}
	t, ok := o.requiredString("type")
	if !ok {
		return Callback{}
	}
	switch t {
	case "none":
		return Callback{Type: "none"}
	case "http":
	default:
		p.add(o.at("type"), "must be \"http\" or \"none\", got %s", quoted(t))
		return Callback{}
	}
	payloadPath := o.at("payload")
	pf, ok := jsonObject(fields["payload"])
	if !ok {
		if isAbsent(fields["payload"]) {
			p.add(payloadPath, "is required for type http")
		} else {
			p.add(payloadPath, "must be an object")
		}
		return Callback{}
	}
	po := &object{path: payloadPath, fields: pf, p: p}
	cb := Callback{Type: "http"}
	if s, ok := po.requiredString("url"); ok {
		if problem := checkCallbackURL(s); problem != "" {
			p.add(po.at("url"), "%s", problem)
		} else if err := guard.CheckURL(s); err != nil {
			p.add(po.at("url"), "%s", err)
		}
		cb.URL = s
	}
	cb.Headers = parseHeaders(po.at("headers"), pf["headers"], p)
	cb.BatchSize = po.optionalInt("batchSize", 1, MaxCallbackBatchSize)
	cb.FlushIntervalMs = po.optionalInt("flushIntervalMs", 100, MaxCallbackFlushIntervalMs)
	return cb
}

func checkCallbackURL(s string) string {
	if len(s) > MaxCallbackURLLength {
		return fmt.Sprintf("must be at most %d characters", MaxCallbackURLLength)
	}
	u, err := url.Parse(s)
	// Hostname, not Host: "https://:443" has a Host, and would be dialled
	// on the node itself.
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.Opaque != "" {
		return "must be an absolute http(s) URL"
	}
	return ""
}

func parseHeaders(path string, raw json.RawMessage, p *problems) map[string]string {
	if isAbsent(raw) {
		return nil
	}
	fields, ok := jsonObject(raw)
	if !ok {
		p.add(path, "must be an object of header names to values")
		return nil
	}
	if len(fields) > MaxCallbackHeaders {
		p.add(path, "at most %d headers are allowed, got %d", MaxCallbackHeaders, len(fields))
		return nil
	}
	// Sorted, so the problems come out in the same order every time.
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names)
	headers := make(map[string]string, len(fields))
	seen := make(map[string]string, len(fields))
	for _, name := range names {
		at := fmt.Sprintf("%s[%s]", path, quoted(name))
		lower := strings.ToLower(name)
		var value string
		switch {
		case !validHeaderName(name):
			p.add(at, "is not a valid HTTP header name")
			continue
		case reservedHeader(lower):
			p.add(at, "is set by pushgate and cannot be overridden")
			continue
		case seen[lower] != "":
			// HTTP header names are case-insensitive: one would silently
			// win over the other.
			p.add(at, "repeats header %s in another case", quoted(seen[lower]))
			continue
		case json.Unmarshal(fields[name], &value) != nil:
			p.add(at, "must be a string")
			continue
		}
		seen[lower] = name
		// Values are never echoed: they are often secrets.
		switch {
		case len(value) > maxHeaderValue:
			p.add(at, "must be at most %d bytes", maxHeaderValue)
		case !validHeaderValue(value):
			p.add(at, "must not contain control characters such as CR or LF")
		default:
			headers[name] = value
		}
	}
	return headers
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlnum(c) {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

// validHeaderValue refuses CR and LF, which would let a value start a new
// header or the body, and the other controls that servers reject. Tabs are
// legal inside a field value.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

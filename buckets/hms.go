package buckets

import (
	"bytes"
	"net/url"
	"strings"
	"unicode"
)

// parseHMS reads CORE's hms payload: {appId, appSecret, pushUrl, authUrl}.
// The URLs default to Huawei's; given ones are tenant-steerable addresses
// that the node will call with the app secret or a bearer token, so they
// must be https (http only where the test setting allows it) and must not
// name an address the SSRF guard refuses.
func parseHMS(o *object, opts ParseOptions) *HMSCredential {
	c := &HMSCredential{AppID: o.hmsAppID()}
	if s, ok := o.requiredString("appSecret"); ok {
		if len(s) > 512 || strings.IndexFunc(s, func(r rune) bool { return r > unicode.MaxASCII || unicode.IsControl(r) || r == ' ' }) >= 0 {
			o.p.add(o.at("appSecret"), "must be the app secret AppGallery Connect shows (printable ASCII, at most 512 characters)")
		}
		c.AppSecret = s
	}
	c.PushURL = o.hmsURL("pushUrl", DefaultHMSPushURL, opts)
	c.AuthURL = o.hmsURL("authUrl", DefaultHMSAuthURL, opts)
	return c
}

// hmsAppID reads the app id, which goes into the request path and is the
// OAuth client id. AppGallery Connect shows it as digits; JSON clients send
// it as a string or a number, so both are taken.
func (o *object) hmsAppID() string {
	raw := bytes.TrimSpace(o.fields["appId"])
	var s string
	if len(raw) > 0 && raw[0] >= '0' && raw[0] <= '9' {
		s = string(raw)
	} else if v, ok := o.requiredString("appId"); ok {
		s = v
	} else {
		return ""
	}
	if len(s) > 64 || !isDigits(s) {
		o.p.add(o.at("appId"), "must be the app id AppGallery Connect shows (digits, at most 64)")
		return ""
	}
	return s
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// hmsURL reads an optional URL member, def when absent or empty.
func (o *object) hmsURL(name, def string, opts ParseOptions) string {
	s, ok := o.optionalString(name)
	if !ok {
		return ""
	}
	if strings.TrimSpace(s) == "" {
		return def
	}
	u, err := url.Parse(s)
	switch {
	case len(s) > 2048 || err != nil || u.Hostname() == "" || u.Opaque != "" || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" || (u.Scheme != "https" && u.Scheme != "http"):
		o.p.add(o.at(name), "must be an absolute https URL without credentials, query or fragment")
	case u.Scheme == "http" && !opts.AllowHTTPHMS:
		o.p.add(o.at(name), "must be an https URL")
	default:
		// The provider calls it; a name is judged when it does.
		if err := opts.Guard.CheckURL(s); err != nil {
			o.p.add(o.at(name), "%s", err)
			return ""
		}
		return strings.TrimSuffix(s, "/")
	}
	return ""
}

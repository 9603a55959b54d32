package pushgate

import (
	"net/url"
	"strings"
)

// redacted stands in for whatever RedactURL hides.
const redacted = "xxxxx"

// RedactURL returns raw fit to show in logs and API answers. URLs a tenant or
// operator configures (callbacks, database and Redis URLs) often carry
// credentials in their user-info, query or fragment: those are masked,
// while the scheme, host, path and the names of query parameters still say
// where the URL points. Something that does not parse is shown as
// "(unparsable URL)", never as itself. The path is shown as it is.
func RedactURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	if u.Opaque != "" {
		return u.Scheme + ":" + redacted
	}
	if u.User != nil {
		u.User = url.User(redacted)
	}
	if u.RawQuery != "" || u.ForceQuery {
		parts := strings.Split(u.RawQuery, "&")
		for i, p := range parts {
			// A parameter without "=" may itself be the token.
			if name, _, ok := strings.Cut(p, "="); ok {
				parts[i] = name + "=" + redacted
			} else if p != "" {
				parts[i] = redacted
			}
		}
		u.RawQuery = strings.Join(parts, "&")
	}
	if u.Fragment != "" || u.RawFragment != "" {
		u.Fragment, u.RawFragment = redacted, ""
	}
	return u.String()
}

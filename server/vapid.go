package server

import (
	"net/netip"
	"net/url"
	"strings"
)

// fallbackVAPIDSubject is the VAPID contact of credentials that name none
// when neither vapid_subject nor an https public_url gives one. Push
// services differ in what they take: Mozilla's refuses a token without a
// subject, Google's does not read it, and Apple's refuses (403
// BadJwtToken) one that is not a mailto: address or https: URL of a real,
// public name: mailto:x@localhost, https://localhost, .local and .invalid
// names are all refused. The project's own page is such a URL; it says
// what software sends, though not who runs it, which is why a start that
// uses it warns.
const fallbackVAPIDSubject = "https://github.com/pushgate/pushgate"

// Where the default VAPID subject comes from.
const (
	subjectFromSetting   = "vapid_subject"
	subjectFromPublicURL = "public_url"
	subjectFallback      = "fallback"
)

// vapidSubject returns the subject for vapid credentials that name none,
// and where it comes from: the vapid_subject setting, else the origin of
// an https public_url with a public host name, else fallbackVAPIDSubject.
func (c *Config) vapidSubject() (subject, from string) {
	if c.VAPIDSubject != "" {
		return c.VAPIDSubject, subjectFromSetting
	}
	if u, err := url.Parse(c.PublicURL); err == nil && u.Scheme == "https" && publicHostName(u.Hostname()) {
		return "https://" + strings.ToLower(u.Host), subjectFromPublicURL
	}
	return fallbackVAPIDSubject, subjectFallback
}

// publicHostName reports whether host looks like a name the internet can
// resolve: not an IP address, with a dot, and not under a suffix reserved
// for local or example use (RFC 2606, 6761, 6762, 8375, 9476) or commonly
// used inside networks, which push services refuse in a VAPID subject.
func publicHostName(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if _, err := netip.ParseAddr(host); err == nil || !strings.Contains(host, ".") {
		return false
	}
	for _, suffix := range []string{
		"localhost", "local", "invalid", "test", "example", "internal", "home.arpa", "alt", "onion",
		"lan", "localdomain", "intranet", "corp", "home",
		"example.com", "example.net", "example.org",
	} {
		if host == suffix || strings.HasSuffix(host, "."+suffix) {
			return false
		}
	}
	return true
}

// logVAPIDSubject says, once at start, where the default VAPID subject
// comes from when no setting names it.
func (s *Server) logVAPIDSubject() {
	subject, from := s.cfg.vapidSubject()
	switch from {
	case subjectFallback:
		s.log.Warn("vapid_subject is not set and public_url is not an https URL with a public host name: "+
			"vapid credentials that name no subject sign with the fallback contact; set vapid_subject to a mailto: address or https: URL of yours",
			"subject", subject)
	case subjectFromPublicURL:
		s.log.Info("vapid credentials that name no subject use the public_url origin as their contact; set vapid_subject to choose another",
			"subject", subject)
	}
}

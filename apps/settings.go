package apps

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/pushgate/pushgate"
)

const (
	// MaxChannelWebhookURL bounds Settings.ChannelWebhookURL.
	MaxChannelWebhookURL = 2048
	// MaxConnectAuthURL bounds Settings.ConnectAuthURL.
	MaxConnectAuthURL = 2048
	// MaxAllowedOrigins bounds Settings.AllowedOrigins; maxOrigin one of them.
	MaxAllowedOrigins = 50
	maxOrigin         = 256
)

// SettingsPatch changes some of an app's settings: a nil field is left as
// it is, a pointer to the zero value ("" or an empty list) clears it.
type SettingsPatch struct {
	ConnectAuthURL    *string
	AllowedOrigins    *[]string
	ClientEvents      *bool
	CompatKeepOffline *bool
	ChannelWebhookURL *string
	SubscriptionCount *bool
}

// UpdateSettings applies patch to the app's settings and returns the app
// as it is now (without its secret). Each field is checked as a whole;
// the errors name the field ("connectAuthUrl: ...").
func (s *Service) UpdateSettings(ctx context.Context, appID string, patch SettingsPatch) (*App, error) {
	var problems []string
	set := Settings{}
	if patch.ConnectAuthURL != nil {
		set.ConnectAuthURL = *patch.ConnectAuthURL
		if p := s.checkConnectAuthURL(set.ConnectAuthURL); p != "" {
			problems = append(problems, "connectAuthUrl: "+p)
		}
	}
	if patch.ChannelWebhookURL != nil {
		if p := s.checkWebhookURL(*patch.ChannelWebhookURL); p != "" {
			problems = append(problems, "channelWebhookUrl: "+p)
		}
	}
	if patch.AllowedOrigins != nil {
		var ps []string
		set.AllowedOrigins, ps = checkOrigins(*patch.AllowedOrigins)
		problems = append(problems, ps...)
	}
	if len(problems) > 0 {
		return nil, pushgate.Invalid("the app settings are invalid", problems...)
	}
	app, err := s.store.GetApp(ctx, appID)
	if err != nil {
		return nil, err
	}
	if patch.ConnectAuthURL == nil {
		set.ConnectAuthURL = app.ConnectAuthURL
	}
	if patch.AllowedOrigins == nil {
		set.AllowedOrigins = app.AllowedOrigins
	}
	set.ClientEvents = pick(patch.ClientEvents, app.ClientEvents)
	set.CompatKeepOffline = pick(patch.CompatKeepOffline, app.CompatKeepOffline)
	set.ChannelWebhookURL = pick(patch.ChannelWebhookURL, app.ChannelWebhookURL)
	set.SubscriptionCount = pick(patch.SubscriptionCount, app.SubscriptionCount)
	if err := s.store.SetAppSettings(ctx, appID, set); err != nil {
		return nil, err
	}
	s.forgetApp(appID)
	app.ConnectAuthURL, app.AllowedOrigins, app.ClientEvents, app.SealedSecret = set.ConnectAuthURL, set.AllowedOrigins, set.ClientEvents, ""
	app.CompatKeepOffline, app.ChannelWebhookURL, app.SubscriptionCount = set.CompatKeepOffline, set.ChannelWebhookURL, set.SubscriptionCount
	if app.AllowedOrigins == nil {
		app.AllowedOrigins = []string{}
	}
	return app, nil
}

// checkConnectAuthURL says what is wrong with a connectAuthUrl ("" clears
// it and is fine). The URL receives the users' cookies, so it must be
// https: a tenant cannot have them sent in clear over the internet.
func (s *Service) checkConnectAuthURL(raw string) string {
	return s.checkURL(raw, MaxConnectAuthURL, true)
}

// checkWebhookURL says what is wrong with a channelWebhookUrl ("" clears
// it and is fine): an absolute http(s) URL, like a bucket's callback.
func (s *Service) checkWebhookURL(raw string) string {
	return s.checkURL(raw, MaxChannelWebhookURL, false)
}

// checkURL says what is wrong with a URL an app's setting names ("" is
// fine): at most max characters, absolute (https only when httpsOnly),
// with no user-info or fragment, and a host that passes the SSRF guard,
// here for what can be judged without DNS, and again when it is dialled.
func (s *Service) checkURL(raw string, max int, httpsOnly bool) string {
	if raw == "" {
		return ""
	}
	if len(raw) > max {
		return fmt.Sprintf("must be at most %d characters", max)
	}
	u, err := url.Parse(raw)
	switch {
	case httpsOnly && (err != nil || u.Scheme != "https" || u.Hostname() == "" || u.Opaque != ""):
		return "must be an absolute https URL"
	case !httpsOnly && (err != nil || !pushgate.IsHTTPURL(raw) || u.Opaque != ""):
		return "must be an absolute http(s) URL"
	case u.User != nil:
		return "must not hold a user name or password"
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return "must not hold a fragment (#...)"
	}
	if err := s.guard.CheckHost(u); err != nil {
		return err.Error()
	}
	return ""
}

// pick is a patch's value when it has one, else the current one.
func pick[T any](patch *T, current T) T {
	if patch != nil {
		return *patch
	}
	return current
}

// checkOrigins returns the origins in the form browsers send them in the
// Origin header (scheme://host[:port], lower case, without the scheme's
// default port), each once, and what is wrong with them.
func checkOrigins(in []string) ([]string, []string) {
	if len(in) > MaxAllowedOrigins {
		return nil, []string{fmt.Sprintf("allowedOrigins: at most %d origins", MaxAllowedOrigins)}
	}
	var out, problems []string
	for i, o := range in {
		norm, p := normalOrigin(o)
		if p != "" {
			problems = append(problems, fmt.Sprintf("allowedOrigins[%d]: %s", i, p))
			continue
		}
		if !slices.Contains(out, norm) {
			out = append(out, norm)
		}
	}
	if out == nil {
		out = []string{}
	}
	return out, problems
}

func normalOrigin(o string) (string, string) {
	const want = "must be an origin such as https://app.example or http://localhost:3000 (no path, query or wildcard)"
	if len(o) > maxOrigin {
		return "", fmt.Sprintf("must be at most %d characters", maxOrigin)
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Hostname() == "" || u.Opaque != "" ||
		u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || strings.ContainsAny(o, "#?*") {
		return "", want
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" && !(u.Scheme == "https" && port == "443") && !(u.Scheme == "http" && port == "80") {
		host += ":" + port
	}
	return strings.ToLower(u.Scheme) + "://" + host, ""
}

// OriginAllowed reports whether a request's Origin header value is one of
// the app's allowed origins.
func (a *App) OriginAllowed(origin string) bool {
	return slices.Contains(a.AllowedOrigins, strings.ToLower(origin))
}

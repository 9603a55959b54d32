package webpush

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/SherClockHolmes/webpush-go"

	pushgate "github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/contexts"
	"github.com/pushgate/pushgate/providers"
)

// MaxPayload is the most JSON one push carries: webpush-go pads every body
// to one 4096-byte aes128gcm record, which leaves 3993 bytes of plaintext
// after the record header, the padding delimiter and the GCM tag.
const MaxPayload = 3993

// maxTTL is the longest TTL push services keep a message for.
const maxTTL = 28 * 24 * time.Hour

// browser names the raw context section a receiver gets, as the section's
// JSON key.
type browser string

const (
	chromium    browser = "chromium"
	edge        browser = "edge"
	firefox     browser = "firefox"
	safariVapid browser = "safariVapid"
)

// browserFor picks a raw section by the push service an endpoint belongs
// to: each browser vendor runs its own, so the host says which browser
// subscribed.
func browserFor(endpoint string) browser {
	u, err := url.Parse(endpoint)
	if err != nil {
		return chromium
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	under := func(domain string) bool { return host == domain || strings.HasSuffix(host, "."+domain) }
	switch {
	case under("push.apple.com"):
		return safariVapid
	case under("mozilla.com"), under("mozaws.net"):
		return firefox
	case under("notify.windows.com"):
		return edge
	}
	return chromium
}

// notification is the JSON the service worker receives: the Notification
// constructor's title and options, and the message identity under data.
type notification struct {
	Title              string               `json:"title,omitempty"`
	Body               string               `json:"body,omitempty"`
	Icon               string               `json:"icon,omitempty"`
	Image              string               `json:"image,omitempty"`
	Badge              string               `json:"badge,omitempty"`
	Actions            []contexts.WebAction `json:"actions,omitempty"`
	Tag                string               `json:"tag,omitempty"`
	Renotify           *bool                `json:"renotify,omitempty"`
	RequireInteraction *bool                `json:"requireInteraction,omitempty"`
	Silent             *bool                `json:"silent,omitempty"`
	Vibrate            []float64            `json:"vibrate,omitempty"`
	Lang               string               `json:"lang,omitempty"`
	Dir                string               `json:"dir,omitempty"`
	Data               identity             `json:"data"`
}

type identity struct {
	MessageID    string            `json:"messageId"`
	ContextID    string            `json:"contextId"`
	ForeignID    string            `json:"foreignId,omitempty"`
	ActionsMap   map[string]string `json:"actionsMap,omitempty"`
	ExternalData string            `json:"externalData,omitempty"`
	Badge        *float64          `json:"badge,omitempty"`
	Data         json.RawMessage   `json:"data,omitempty"`
	Silent       bool              `json:"_silent,omitempty"`
}

// rendering is a message rendered for one receiver.
type rendering struct {
	body    []byte
	urgency webpush.Urgency
	topic   string
	// section names the part of the context the body came from.
	section string
	// ownExpiry is set when a raw section has its own ttl or expiresAt,
	// which then replace the message's (common's) expiry; expiresAt is
	// zero when they amount to no limit.
	ownExpiry bool
	expiresAt time.Time
}

// render renders m for a receiver of browser b.
func render(m *providers.Message, b browser) (rendering, error) {
	c := m.Context
	if c == nil {
		return rendering{}, errors.New("message has no context")
	}
	id := identity{MessageID: m.ID, ContextID: c.ID, ForeignID: m.ForeignID}
	if id.ForeignID == "" {
		id.ForeignID = m.Receiver.ForeignID
	}
	var n notification
	r := rendering{urgency: webpush.UrgencyHigh, section: string(c.Kind)}
	switch {
	case c.Kind == contexts.KindData && c.Data != nil:
		n = renderData(c.Data, id)
	case c.Kind == contexts.KindSilent && c.Silent != nil:
		id.ExternalData, id.Silent = c.Silent.ExternalData, true
		n = notification{Data: id}
		r.urgency = webpush.UrgencyNormal
	case c.Kind == contexts.KindRaw && c.Raw != nil:
		w, section := rawSection(c.Raw, b)
		r.section = section
		var err error
		if n, err = renderRaw(c.Raw.Common, w, id); err != nil {
			return r, err
		}
		if w.TTL != nil || w.ExpiresAt != "" {
			r.ownExpiry, r.expiresAt = true, contexts.Expiry(c.CreatedAt, w.TTL, w.ExpiresAt)
		}
	default:
		return r, fmt.Errorf("context of kind %q has no %s payload", c.Kind, c.Kind)
	}
	r.topic = n.Tag
	if !validTopic(r.topic) {
		r.topic = topicOf(m.ID)
	}
	var err error
	r.body, err = encode(&n)
	return r, err
}

func renderData(d *contexts.Data, id identity) notification {
	n := notification{
		Title: d.Title, Body: d.Body, Icon: d.Icon, Image: d.Image, Tag: d.Tag,
		Renotify: d.Renotify, RequireInteraction: d.RequireInteraction, Silent: d.Silent,
		Vibrate: d.Vibrate, Lang: d.Lang,
	}
	for _, a := range d.Actions {
		n.Actions = append(n.Actions, contexts.WebAction{Action: a.Action, Title: a.Title, Icon: a.Icon})
	}
	id.ActionsMap = actionsMap(cmp.Or(d.BehaviourWebPush, d.Behaviour), d.Actions)
	id.ExternalData, id.Badge = d.ExternalData, d.Badge
	n.Data = id
	return n
}

// actionsMap maps each action id to the URL a click on it opens and
// "default" to the notification's own. An action without an id cannot be
// told apart in the service worker's notificationclick, so it gets no entry.
func actionsMap(defaultURL string, actions []contexts.Action) map[string]string {
	m := map[string]string{}
	if defaultURL != "" {
		m["default"] = defaultURL
	}
	for _, a := range actions {
		if u := cmp.Or(a.BehaviourWebPush, a.Behaviour); a.Action != "" && u != "" {
			m[a.Action] = u
		}
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

// rawSection returns the section of r for browser b, else chromium's, else
// an empty one that leaves everything to common, and its name.
func rawSection(r *contexts.Raw, b browser) (*contexts.RawWebPush, string) {
	name := string(b)
	var w *contexts.RawWebPush
	switch b {
	case edge:
		w = r.Edge
	case firefox:
		w = r.Firefox
	case safariVapid:
		w = r.SafariVapid
	default:
		name, w = string(chromium), r.Chromium
	}
	if w == nil {
		name, w = string(chromium), r.Chromium
	}
	if w == nil {
		name, w = "common", &contexts.RawWebPush{}
	}
	return w, name
}

// renderRaw lays a raw section over common: the section's fields win,
// common fills title, body, icon, image and data where the section leaves
// them out.
func renderRaw(c *contexts.RawCommon, w *contexts.RawWebPush, id identity) (notification, error) {
	if c == nil {
		c = &contexts.RawCommon{}
	}
	n := notification{
		Title: cmp.Or(w.Title, c.Title), Body: cmp.Or(w.Body, c.Body),
		Icon: cmp.Or(w.Icon, c.IconURL), Image: cmp.Or(w.Image, c.ImageURL),
		Badge: w.Badge, Actions: w.Actions, Tag: w.Tag,
		Renotify: w.Renotify, RequireInteraction: w.RequireInteraction, Silent: w.Silent,
		Vibrate: w.Vibrate, Lang: w.Lang, Dir: w.Dir,
	}
	if len(w.Data) > 0 && !bytes.Equal(bytes.TrimSpace(w.Data), []byte("null")) {
		id.Data = w.Data
	} else if c.Data != nil && !c.Data.IsZero() {
		data, err := json.Marshal(c.Data)
		if err != nil {
			return n, fmt.Errorf("common.data: %w", err)
		}
		id.Data = data
	}
	if w.DefaultAction != "" {
		id.ActionsMap = map[string]string{"default": w.DefaultAction}
	}
	n.Data = id
	return n, nil
}

// encode marshals n without HTML escaping: a service worker is no HTML
// page, and "<" as \u003c would spend 5 of the 3993 bytes for nothing.
func encode(n *notification) ([]byte, error) {
	return providers.MarshalUnescaped(n)
}

// topicOf is the Topic of a message whose context sets no usable tag: its
// id's 16 bytes in URL-safe base64 (22 characters), or for an id that is
// no UUID, 24 bytes of its SHA-256 (32 characters). Sent twice (after a
// crash, or a lost answer) while the browser is away, the message
// replaces itself at the push service instead of arriving twice
// (docs/payloads.md).
func topicOf(id string) string {
	var b [16]byte
	if digits := strings.ReplaceAll(id, "-", ""); len(id) == 36 && len(digits) == 32 {
		if _, err := hex.Decode(b[:], []byte(digits)); err == nil {
			return base64.RawURLEncoding.EncodeToString(b[:])
		}
	}
	sum := sha256.Sum256([]byte(id))
	return base64.RawURLEncoding.EncodeToString(sum[:24])
}

// validTopic reports whether s may be a Topic header (RFC 8030 §5.4).
func validTopic(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// ttlSeconds is the TTL header for a message expiring at expiresAt, and
// false when it has already expired.
func ttlSeconds(expiresAt, now time.Time) (int, bool) {
	if expiresAt.IsZero() {
		return int(maxTTL / time.Second), true
	}
	left := expiresAt.Sub(now)
	if left <= 0 {
		return 0, false
	}
	return int(min(left, maxTTL) / time.Second), true
}

// Check refuses a context whose Web Push payload could exceed MaxPayload
// for some receiver, naming each section that renders too long.
func Check(c *contexts.Context) error {
	if c == nil {
		return pushgate.Invalid("no context to check")
	}
	// The longest ids pushgate makes and the longest foreignId a receiver
	// may carry. A foreignId of characters JSON must escape renders longer
	// still: Send refuses that one message as payload_too_large, rather
	// than Check refusing every context near the limit.
	worstID, worstForeignID := strings.Repeat("f", 36), strings.Repeat("x", 255)
	worst := *c
	worst.ID = worstID
	m := &providers.Message{ID: worstID, ForeignID: worstForeignID, Context: &worst}
	browsers := []browser{chromium}
	if c.Kind == contexts.KindRaw {
		browsers = []browser{chromium, edge, firefox, safariVapid}
	}
	var fields []string
	seen := map[string]bool{}
	for _, b := range browsers {
		r, err := render(m, b)
		if err != nil {
			return pushgate.Invalid("context cannot be rendered for Web Push", r.section+": "+err.Error())
		}
		if seen[r.section] {
			continue
		}
		seen[r.section] = true
		if len(r.body) > MaxPayload {
			fields = append(fields, fmt.Sprintf("%s: renders to %d bytes of Web Push payload; at most %d fit", r.section, len(r.body), MaxPayload))
		}
	}
	if len(fields) > 0 {
		return pushgate.Invalid("context is too large for Web Push", fields...)
	}
	return nil
}

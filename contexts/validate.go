package contexts

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pushgate/pushgate"
)

// Limits a context must keep within. The API documentation lists them;
// each says where it comes from. "Characters" are Unicode code points;
// opaque identifiers and URLs are measured in bytes.
const (
	// MaxTitleLen (characters) bounds titles and subtitles: no platform shows
	// more than a line or two of them.
	MaxTitleLen = 250
	// MaxBodyLen (characters): APNS and FCM cap the whole payload at 4 KiB,
	// and the provider checkers refuse a rendered payload that is larger.
	MaxBodyLen = 4000
	// MaxActionTitleLen (characters): a button label.
	MaxActionTitleLen = 100
	// MaxActionIDLen (bytes): action ids become APNS category ids and
	// actionsMap keys.
	MaxActionIDLen = 64
	// MaxTagLen (bytes) bounds tag and common.collapseKey: a tag becomes
	// APNS's apns-collapse-id, which Apple limits to 64 bytes.
	MaxTagLen = 64
	// MaxURLLen (bytes) bounds every URL and URI field.
	MaxURLLen = 2048
	// MaxNameLen (bytes) bounds names: channelName, sounds, smallIcon as a
	// resource name, huawei.biTag and huawei.receiptId.
	MaxNameLen = 255
	// MaxExternalDataLen (bytes): externalData is repeated in every payload.
	MaxExternalDataLen = 4096
	// MaxDataLen (bytes of JSON) bounds common.data, the web sections' data
	// and huawei.data.
	MaxDataLen = 4096
	// MaxLangLen (bytes): RFC 5646 asks implementations to handle tags of at
	// least 35 characters; nothing real is longer.
	MaxLangLen = 35
	// MaxActions is for data contexts: Android shows at most 3 buttons
	// (browsers show the first Notification.maxActions of them).
	MaxActions = 3
	// MaxWebActions is for raw web sections, which only browsers read:
	// Chromium's Notification.maxActions is 2, and a browser silently drops
	// the buttons past its own limit.
	MaxWebActions = 2
	// MaxBadge bounds badge and badgeMobile: an app icon badge count.
	MaxBadge = 99999
	// MaxTTL is in seconds (28 days): FCM's longest time to live, and the
	// default docs/payloads.md gives a message with no expiry.
	MaxTTL = 28 * 24 * 60 * 60
	// MaxExpiresIn is how far ahead expiresAt may be, for the same reason.
	MaxExpiresIn = MaxTTL * time.Second
	// MaxVibrate bounds the entries of a vibration pattern.
	MaxVibrate = 32
	// MaxVibrateMillis bounds each entry of a vibration pattern.
	MaxVibrateMillis = 10000
	// Huawei Push Kit's documented ranges for collapseKey.
	MinHuaweiCollapseKey = -1
	MaxHuaweiCollapseKey = 100
)

// Validate checks a context built in code (by an application embedding
// pushgate) as Parse checks a decoded one, including that exactly one
// payload is set and matches Kind. Like Parse it is for a context about to
// be created: an expiresAt that has passed since fails it.
func (c *Context) Validate(now time.Time) error {
	var errs []string
	set := 0
	for _, p := range []bool{c.Data != nil, c.Raw != nil, c.Silent != nil} {
		if p {
			set++
		}
	}
	switch {
	case !c.Kind.Valid():
		errs = append(errs, fmt.Sprintf("kind: must be data, raw or silent, not %q", c.Kind))
	case set != 1,
		c.Kind == KindData && c.Data == nil,
		c.Kind == KindRaw && c.Raw == nil,
		c.Kind == KindSilent && c.Silent == nil:
		errs = append(errs, "kind: exactly one of Data, Raw and Silent must be set, matching kind "+string(c.Kind))
	default:
		errs = c.problems(now, "", "context", nil)
	}
	if len(errs) > 0 {
		return pushgate.Invalid("invalid "+string(c.Kind)+" context", errs...)
	}
	return nil
}

// problems lists what is wrong with c's payload, with paths under prefix;
// root names the payload object itself.
func (c *Context) problems(now time.Time, prefix, root string, guard *pushgate.SSRFGuard) []string {
	ch := &checker{now: now, guard: guard}
	switch c.Kind {
	case KindData:
		ch.data(prefix, c.Data)
	case KindRaw:
		ch.raw(prefix, root, c.Raw)
	case KindSilent:
		ch.silent(prefix, c.Silent)
	}
	return ch.errs
}

// checker collects problems. Every check ignores an empty value: CORE's
// fields are all optional, and the few required ones are checked apart.
type checker struct {
	now time.Time
	// guard judges the hosts of image URLs (nil: an empty allow-list).
	guard *pushgate.SSRFGuard
	errs  []string
}

func (c *checker) add(path, format string, args ...any) {
	c.errs = append(c.errs, path+": "+fmt.Sprintf(format, args...))
}

func (c *checker) data(p string, d *Data) {
	if strings.TrimSpace(d.Title) == "" && strings.TrimSpace(d.Body) == "" {
		c.add(join(p, "title"), "a data context needs a title or a body")
	}
	c.chars(join(p, "title"), d.Title, MaxTitleLen)
	c.chars(join(p, "body"), d.Body, MaxBodyLen)
	c.chars(join(p, "subtitle"), d.Subtitle, MaxTitleLen)
	c.httpURL(join(p, "icon"), d.Icon)
	c.smallIcon(join(p, "smallIcon"), d.SmallIcon)
	c.httpURL(join(p, "image"), d.Image)
	c.bytes(join(p, "channelName"), d.ChannelName, MaxNameLen)
	c.whole(join(p, "badge"), d.Badge, 0, MaxBadge)
	c.whole(join(p, "badgeMobile"), d.BadgeMobile, 0, MaxBadge)

	ap := join(p, "actions")
	if len(d.Actions) > MaxActions {
		c.add(ap, "must have at most %d entries", MaxActions)
	}
	ids := make([]string, len(d.Actions))
	for i, a := range d.Actions {
		ids[i] = a.Action
		ip := fmt.Sprintf("%s[%d]", ap, i)
		c.actionID(ip, i, ids)
		c.actionTitle(join(ip, "title"), a.Title)
		c.httpURL(join(ip, "icon"), a.Icon)
		c.link(join(ip, "behaviour"), a.Behaviour)
		c.link(join(ip, "behaviourAndroid"), a.BehaviourAndroid)
		c.link(join(ip, "behaviourHuawei"), a.BehaviourHuawei)
		c.link(join(ip, "behaviourIos"), a.BehaviourIos)
		c.link(join(ip, "behaviourWebPush"), a.BehaviourWebPush)
	}

	c.link(join(p, "behaviour"), d.Behaviour)
	c.link(join(p, "behaviourAndroid"), d.BehaviourAndroid)
	c.link(join(p, "behaviourHuawei"), d.BehaviourHuawei)
	c.link(join(p, "behaviourIos"), d.BehaviourIos)
	c.link(join(p, "behaviourWebPush"), d.BehaviourWebPush)
	c.expiresAt(join(p, "expiresAt"), d.ExpiresAt)
	c.ttl(join(p, "ttl"), d.TTL)
	c.lang(join(p, "lang"), d.Lang)
	c.bytes(join(p, "tag"), d.Tag, MaxTagLen)
	c.bytes(join(p, "externalData"), d.ExternalData, MaxExternalDataLen)
	c.vibrate(join(p, "vibrate"), d.Vibrate)
	c.bytes(join(p, "sound"), d.Sound, MaxNameLen)
	c.bytes(join(p, "soundIos"), d.SoundIos, MaxNameLen)
	c.bytes(join(p, "soundAndroid"), d.SoundAndroid, MaxNameLen)
}

func (c *checker) silent(p string, s *Silent) {
	c.bytes(join(p, "externalData"), s.ExternalData, MaxExternalDataLen)
	c.expiresAt(join(p, "expiresAt"), s.ExpiresAt)
	c.ttl(join(p, "ttl"), s.TTL)
}

func (c *checker) raw(p, root string, r *Raw) {
	if r.Common == nil && r.Chromium == nil && r.Edge == nil && r.Firefox == nil && r.SafariVapid == nil &&
		r.Huawei == nil && len(r.IOS) == 0 && len(r.Safari) == 0 && len(r.Android) == 0 {
		c.add(root, "a raw context needs at least one of common, chromium, edge, firefox, safariVapid, huawei, ios, safari and android")
	}
	if r.Common != nil {
		c.common(join(p, "common"), r.Common)
	}
	for _, s := range []struct {
		name string
		w    *RawWebPush
	}{{"chromium", r.Chromium}, {"edge", r.Edge}, {"firefox", r.Firefox}, {"safariVapid", r.SafariVapid}} {
		if s.w != nil {
			c.web(join(p, s.name), s.w)
		}
	}
	if r.Huawei != nil {
		c.huawei(join(p, "huawei"), r.Huawei)
	}
	c.apns(join(p, "ios"), r.IOS)
	c.apns(join(p, "safari"), r.Safari)
	c.fcm(join(p, "android"), r.Android)
}

func (c *checker) common(p string, m *RawCommon) {
	c.chars(join(p, "title"), m.Title, MaxTitleLen)
	c.chars(join(p, "body"), m.Body, MaxBodyLen)
	c.bytes(join(p, "collapseKey"), m.CollapseKey, MaxTagLen)
	if m.Data != nil {
		// Cannot fail: a map of strings or a string.
		b, _ := json.Marshal(m.Data)
		if len(b) > MaxDataLen {
			c.add(join(p, "data"), "must be at most %d bytes of JSON", MaxDataLen)
		}
	}
	c.expiresAt(join(p, "expiresAt"), m.ExpiresAt)
	c.httpURL(join(p, "iconUrl"), m.IconURL)
	c.httpURL(join(p, "imageUrl"), m.ImageURL)
	c.ttl(join(p, "ttl"), m.TTL)
}

func (c *checker) web(p string, w *RawWebPush) {
	c.chars(join(p, "title"), w.Title, MaxTitleLen)
	c.chars(join(p, "body"), w.Body, MaxBodyLen)
	c.httpURL(join(p, "badge"), w.Badge)
	c.httpURL(join(p, "image"), w.Image)
	c.httpURL(join(p, "icon"), w.Icon)

	ap := join(p, "actions")
	if len(w.Actions) > MaxWebActions {
		c.add(ap, "must have at most %d entries", MaxWebActions)
	}
	ids := make([]string, len(w.Actions))
	for i, a := range w.Actions {
		ids[i] = a.Action
		ip := fmt.Sprintf("%s[%d]", ap, i)
		c.actionID(ip, i, ids)
		c.actionTitle(join(ip, "title"), a.Title)
		c.httpURL(join(ip, "icon"), a.Icon)
	}

	if len(w.Data) > 0 {
		// Measured as stored and sent: compacted, with HTML characters
		// escaped, which can make it longer than the client's bytes.
		stored, _ := json.Marshal(w.Data)
		switch t := rawType(w.Data); {
		case t != "string" && t != "object":
			c.add(join(p, "data"), "must be a string or an object")
		case len(stored) > MaxDataLen:
			c.add(join(p, "data"), "must be at most %d bytes of JSON", MaxDataLen)
		}
	}
	c.link(join(p, "defaultAction"), w.DefaultAction)
	switch w.Dir {
	case "", "auto", "ltr", "rtl":
	default:
		c.add(join(p, "dir"), "must be auto, ltr or rtl")
	}
	c.expiresAt(join(p, "expiresAt"), w.ExpiresAt)
	c.lang(join(p, "lang"), w.Lang)
	c.bytes(join(p, "tag"), w.Tag, MaxTagLen)
	c.ttl(join(p, "ttl"), w.TTL)
	c.vibrate(join(p, "vibrate"), w.Vibrate)
}

func (c *checker) huawei(p string, h *RawHuawei) {
	if len(h.Notification) > 0 && rawType(h.Notification) != "object" {
		c.add(join(p, "notification"), "must be an object")
	}
	c.bytes(join(p, "biTag"), h.BiTag, MaxNameLen)
	c.whole(join(p, "collapseKey"), h.CollapseKey, MinHuaweiCollapseKey, MaxHuaweiCollapseKey)
	c.bytes(join(p, "data"), h.Data, MaxDataLen)
	if f := h.FastAppTarget; f != nil && *f != 1 && *f != 2 {
		c.add(join(p, "fastAppTarget"), "must be 1 (development) or 2 (production)")
	}
	c.bytes(join(p, "receiptId"), h.ReceiptID, MaxNameLen)
	c.ttl(join(p, "ttl"), h.TTL)
	c.expiresAt(join(p, "expiresAt"), h.ExpiresAt)
}

// apns checks an APNS payload only as far as its shape: Apple's own checks
// of the aps dictionary change between iOS releases, and the provider
// checker refuses payloads over Apple's size limit.
func (c *checker) apns(p string, raw json.RawMessage) {
	obj, ok := c.object(p, raw)
	if !ok {
		return
	}
	if aps, ok := obj["aps"]; ok && jsonType(aps) != "object" {
		c.add(join(p, "aps"), "must be an object")
	}
}

// fcm checks the fields of an FCM v1 message the section may carry; FCM
// refuses a data map whose values are not strings, so that is caught here
// rather than on every send.
func (c *checker) fcm(p string, raw json.RawMessage) {
	obj, ok := c.object(p, raw)
	if !ok {
		return
	}
	for _, name := range []string{"notification", "android"} {
		if v, ok := obj[name]; ok && jsonType(v) != "object" {
			c.add(join(p, name), "must be an object")
		}
	}
	data, ok := obj["data"]
	if !ok {
		return
	}
	dp := join(p, "data")
	if jsonType(data) != "object" {
		c.add(dp, "must be an object of strings")
		return
	}
	var fields map[string]json.RawMessage
	_ = json.Unmarshal(data, &fields)
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		if jsonType(fields[k]) != "string" {
			c.add(key(dp, k), "must be a string")
		}
	}
}

// rawType is jsonType for a json.RawMessage field, which holds unchecked
// bytes when the context was built in code rather than parsed.
func rawType(raw json.RawMessage) string {
	if !json.Valid(raw) {
		return "invalid JSON"
	}
	return jsonType(raw)
}

// object decodes a section that must be a JSON object; ok is false when it
// is absent or (reported) not an object.
func (c *checker) object(p string, raw json.RawMessage) (obj map[string]json.RawMessage, ok bool) {
	if len(raw) == 0 {
		return nil, false
	}
	if rawType(raw) != "object" {
		c.add(p, "must be an object")
		return nil, false
	}
	_ = json.Unmarshal(raw, &obj) // cannot fail: a valid JSON object
	return obj, true
}

// actionID checks ids[i], the id of the action at path p, against the
// others: actionsMap and APNS categories are keyed by it.
func (c *checker) actionID(p string, i int, ids []string) {
	p = join(p, "action")
	id := ids[i]
	switch {
	case id == "":
		c.add(p, "is required")
	case len(id) > MaxActionIDLen:
		c.add(p, "must be at most %d bytes", MaxActionIDLen)
	case id == "default":
		c.add(p, `must not be "default", which actionsMap keeps for the notification's own click`)
	default:
		for j := range i {
			if ids[j] == id {
				c.add(p, "must be unique, but the action at index %d has it too", j)
				break
			}
		}
	}
}

func (c *checker) actionTitle(p, title string) {
	if strings.TrimSpace(title) == "" {
		c.add(p, "is required")
		return
	}
	c.chars(p, title, MaxActionTitleLen)
}

func (c *checker) chars(p, s string, max int) {
	if utf8.RuneCountInString(s) > max {
		c.add(p, "must be at most %d characters", max)
	}
}

func (c *checker) bytes(p, s string, max int) {
	if len(s) > max {
		c.add(p, "must be at most %d bytes", max)
	}
}

// httpURL checks a URL that the image CDN will fetch (an image, an icon):
// it fetches only http(s), and never from a literal internal address.
func (c *checker) httpURL(p, s string) {
	if s == "" {
		return
	}
	if len(s) > MaxURLLen {
		c.add(p, "must be at most %d bytes", MaxURLLen)
		return
	}
	if !pushgate.IsHTTPURL(s) {
		c.add(p, "must be an absolute http(s) URL")
		return
	}
	if err := c.guard.CheckURL(s); err != nil {
		c.add(p, "%s", err)
	}
}

// link checks what a click opens: a web page or an app's deep link
// (myapp://product/1), so any absolute URI, except schemes that would run
// code or read local files in the browser that opens it.
func (c *checker) link(p, s string) {
	if s == "" {
		return
	}
	if len(s) > MaxURLLen {
		c.add(p, "must be at most %d bytes", MaxURLLen)
		return
	}
	u, err := url.Parse(s) // lower-cases the scheme
	switch {
	case err != nil || u.Scheme == "":
		c.add(p, "must be an absolute URI, such as https://example.com/ or myapp://open")
	case u.Scheme == "javascript" || u.Scheme == "data" || u.Scheme == "vbscript" || u.Scheme == "file":
		c.add(p, "must not be a %s: URI", u.Scheme)
	case (u.Scheme == "http" || u.Scheme == "https") && u.Host == "":
		c.add(p, "must be an absolute http(s) URL")
	}
}

// smallIcon is Android's status-bar icon, which FCM takes as the name of a
// drawable resource in the app; CORE's web SDKs may put a URL there, so
// both are accepted.
func (c *checker) smallIcon(p, s string) {
	if s == "" || pushgate.IsHTTPURL(s) && len(s) <= MaxURLLen {
		return
	}
	if len(s) > MaxNameLen || strings.IndexFunc(s, func(r rune) bool {
		return !(r == '_' || '0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z')
	}) >= 0 {
		c.add(p, "must be an Android drawable name (letters, digits and _) or an absolute http(s) URL")
	}
}

// lang accepts the shape of a BCP 47 tag (a 2 to 8 letter language, then
// subtags of 1 to 8 letters or digits), not its registry: browsers ignore
// tags they do not know.
func (c *checker) lang(p, s string) {
	if s == "" {
		return
	}
	ok := len(s) <= MaxLangLen
	for i, sub := range strings.Split(s, "-") {
		ok = ok && len(sub) >= 1 && len(sub) <= 8 && (i > 0 || len(sub) >= 2)
		for _, r := range sub {
			letter := 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z'
			ok = ok && (letter || i > 0 && '0' <= r && r <= '9')
		}
	}
	if !ok {
		c.add(p, "must be a BCP 47 language tag such as en or pt-BR")
	}
}

func (c *checker) whole(p string, f *float64, min, max float64) {
	if f != nil && !isWhole(*f, min, max) {
		c.add(p, "must be a whole number between %v and %v", min, max)
	}
}

func isWhole(f, min, max float64) bool {
	return f == math.Trunc(f) && f >= min && f <= max
}

func (c *checker) ttl(p string, f *float64) {
	if f != nil && !isWhole(*f, 0, MaxTTL) {
		c.add(p, "must be a whole number of seconds between 0 and %d", MaxTTL)
	}
}

func (c *checker) vibrate(p string, v []float64) {
	if len(v) > MaxVibrate {
		c.add(p, "must have at most %d entries", MaxVibrate)
		return
	}
	for i, ms := range v {
		if !isWhole(ms, 0, MaxVibrateMillis) {
			c.add(fmt.Sprintf("%s[%d]", p, i), "must be a whole number of milliseconds between 0 and %d", MaxVibrateMillis)
		}
	}
}

func (c *checker) expiresAt(p, s string) {
	if s == "" {
		return
	}
	t, err := time.Parse(time.RFC3339, s)
	switch {
	case err != nil:
		c.add(p, "must be an RFC 3339 time such as 2025-07-05T08:19:58Z")
	case !t.After(c.now):
		c.add(p, "must be in the future")
	case t.Sub(c.now) > MaxExpiresIn:
		c.add(p, "must be at most %d days from now", MaxExpiresIn/(24*time.Hour))
	}
}

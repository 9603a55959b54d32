package hms

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/contexts"
	"github.com/pushgate/pushgate/providers"
)

const (
	// maxTTL is the longest time Push Kit keeps a message for an offline
	// device, used when a message sets none.
	maxTTL = 15 * 24 * time.Hour
	// maxPayload is what Push Kit accepts of a message body (notification
	// and data).
	maxPayload = 4096
)

// message is a Push Kit v1 message without its tokens: what every token
// of one request receives.
type message struct {
	Data    string   `json:"data,omitempty"`
	Android *android `json:"android"`
}

type android struct {
	CollapseKey   *int           `json:"collapse_key,omitempty"`
	Urgency       string         `json:"urgency,omitempty"`
	TTL           string         `json:"ttl"`
	BiTag         string         `json:"bi_tag,omitempty"`
	FastAppTarget *int           `json:"fast_app_target,omitempty"`
	ReceiptID     string         `json:"receipt_id,omitempty"`
	Notification  map[string]any `json:"notification,omitempty"`
}

// identity is what every rendered message carries so the app can report
// events for it (docs/payloads.md).
type identity struct {
	messageID, contextID, foreignID string
}

func worstIdentity() identity {
	return identity{messageID: strings.Repeat("m", 36), contextID: strings.Repeat("c", 36), foreignID: strings.Repeat("f", 255)}
}

// Check reports, when a context is created, whether it can be sent through
// Push Kit: a raw context's huawei section must be usable, and the message
// must fit Push Kit's 4096 bytes with the longest identity values.
func Check(c *contexts.Context) error {
	field := "data"
	if c != nil && c.Kind == contexts.KindRaw {
		field = "huawei"
	}
	msg, err := render(c, worstIdentity(), maxTTL)
	if err != nil {
		return pushgate.Invalid("the context cannot be sent through Huawei Push Kit", field+": "+err.Error())
	}
	if n := payloadSize(msg); n > maxPayload {
		return pushgate.Invalid("the context is too large for Huawei Push Kit",
			fmt.Sprintf("%s: the message takes %d bytes with the longest message ids and foreignId; Push Kit accepts %d", field, n, maxPayload))
	}
	return nil
}

func payloadSize(m *message) int {
	b, _ := json.Marshal(m)
	return len(b)
}

// render renders c for one receiver; ttl is how long the message stays
// worth delivering.
func render(c *contexts.Context, id identity, ttl time.Duration) (*message, error) {
	switch {
	case c == nil:
		return nil, errors.New("no context")
	case c.Kind == contexts.KindData && c.Data != nil:
		return renderData(c.Data, id, ttl)
	case c.Kind == contexts.KindSilent && c.Silent != nil:
		data, err := dataString(identityData(id, c.Silent.ExternalData, map[string]any{"_silent": "true"}))
		return &message{Data: data, Android: &android{Urgency: "HIGH", TTL: ttlString(ttl)}}, err
	case c.Kind == contexts.KindRaw && c.Raw != nil:
		return renderRaw(c.Raw, id, ttl)
	}
	return nil, fmt.Errorf("a %q context without its payload", c.Kind)
}

func renderData(d *contexts.Data, id identity, ttl time.Duration) (*message, error) {
	extra := map[string]any{}
	if am := actionsMap(d); am != "" {
		extra["actionsMap"] = am
	}
	data, err := dataString(identityData(id, d.ExternalData, extra))
	if err != nil {
		return nil, err
	}
	n := map[string]any{"click_action": clickAction(cmp.Or(d.BehaviourHuawei, d.BehaviourAndroid, d.Behaviour))}
	set(n, "title", d.Title)
	set(n, "body", d.Body)
	set(n, "image", d.Image)
	set(n, "icon", d.SmallIcon)
	set(n, "channel_id", d.ChannelName)
	set(n, "sound", cmp.Or(d.SoundAndroid, d.Sound))
	set(n, "tag", d.Tag)
	a := &android{Urgency: "HIGH", TTL: ttlString(ttl), Notification: n}
	if d.Title == "" && d.Body == "" {
		// Push Kit requires both for a notification: without either the
		// message is data only, for the app to show.
		a.Notification = nil
	} else {
		n["title"], n["body"] = cmp.Or(d.Title, " "), cmp.Or(d.Body, " ")
		tagByID(n, id.messageID)
	}
	return &message{Data: data, Android: a}, nil
}

// tagByID gives a notification whose context sets no tag of its own the
// message id as its tag: sent twice (after a crash, or a lost answer), it
// replaces itself in the notification drawer instead of showing twice
// (docs/payloads.md). Push Kit's collapse_key is no equivalent: it sorts
// the messages kept for an offline device into at most 100 groups, and
// one per message would not fit.
func tagByID(n map[string]any, messageID string) {
	if _, ok := n["tag"]; !ok {
		n["tag"] = messageID
	}
}

// clickAction opens url, or the app when there is none.
func clickAction(url string) map[string]any {
	if url == "" {
		return map[string]any{"type": 3}
	}
	return map[string]any{"type": 2, "url": url}
}

func set(m map[string]any, k, v string) {
	if v != "" {
		m[k] = v
	}
}

// identityData returns extra with the identity keys set over anything of
// the same name: the app needs them to report events.
func identityData(id identity, externalData string, extra map[string]any) map[string]any {
	extra["messageId"], extra["contextId"] = id.messageID, id.contextID
	if id.foreignID != "" {
		extra["foreignId"] = id.foreignID
	}
	if externalData != "" {
		extra["externalData"] = externalData
	}
	return extra
}

// dataString is message.data: Push Kit takes it as one string, the JSON of
// the data object.
func dataString(v any) (string, error) {
	b, err := providers.MarshalUnescaped(v)
	return string(b), err
}

// actionsMap is the JSON of action id → URL to open, "default" being the
// notification's own click, or "" when nothing has a URL.
func actionsMap(d *contexts.Data) string {
	m := map[string]string{}
	for _, a := range d.Actions {
		if u := cmp.Or(a.BehaviourHuawei, a.BehaviourAndroid, a.Behaviour); a.Action != "" && u != "" {
			m[a.Action] = u
		}
	}
	if u := cmp.Or(d.BehaviourHuawei, d.BehaviourAndroid, d.Behaviour); u != "" {
		m["default"] = u
	}
	if len(m) == 0 {
		return ""
	}
	s, _ := dataString(m)
	return s
}

// ttlString is Push Kit's form of a duration: whole seconds and "s".
func ttlString(ttl time.Duration) string {
	return strconv.FormatInt(int64(max(ttl, time.Second)/time.Second), 10) + "s"
}

// ttlAt is how long a message expiring at expiresAt stays worth sending;
// ok is false when it already expired.
func ttlAt(expiresAt, now time.Time) (time.Duration, bool) {
	if expiresAt.IsZero() {
		return maxTTL, true
	}
	left := expiresAt.Sub(now)
	if left <= 0 {
		return 0, false
	}
	return min(left.Truncate(time.Second), maxTTL), true
}

// wholeNumber converts CORE's JSON numbers to the integers Push Kit takes.
func wholeNumber(f *float64) (*int, error) {
	if f == nil {
		return nil, nil
	}
	if *f != math.Trunc(*f) || math.Abs(*f) > 1e9 {
		return nil, fmt.Errorf("%v is not a whole number", *f)
	}
	n := int(*f)
	return &n, nil
}

package contexts

import (
	"encoding/json"
	"time"
)

// Kind is a context's kind, as it appears in CORE's paths.
type Kind string

const (
	KindData   Kind = "data"
	KindRaw    Kind = "raw"
	KindSilent Kind = "silent"
)

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool { return k == KindData || k == KindRaw || k == KindSilent }

// Context is a stored message context. Exactly one of Data, Raw and Silent
// is set, matching Kind.
type Context struct {
	ID        string
	AppID     string
	BucketID  string
	Kind      Kind
	Data      *Data
	Raw       *Raw
	Silent    *Silent
	CreatedAt time.Time
	// Status says whether the context's images are ready ("" is Ready).
	Status Status
	// Failure says why the images failed (Status Failed).
	Failure string
	// Images maps each image source URL to its CDN URLs by variant.
	Images map[string]map[string]string
}

// State is the context's status, Ready when none was set.
func (c *Context) State() Status {
	if c.Status == "" {
		return Ready
	}
	return c.Status
}

// Action is a notification button (data contexts).
type Action struct {
	Action           string `json:"action,omitempty"`
	Title            string `json:"title,omitempty"`
	Icon             string `json:"icon,omitempty"`
	Behaviour        string `json:"behaviour,omitempty"`
	BehaviourAndroid string `json:"behaviourAndroid,omitempty"`
	BehaviourHuawei  string `json:"behaviourHuawei,omitempty"`
	BehaviourIos     string `json:"behaviourIos,omitempty"`
	BehaviourWebPush string `json:"behaviourWebPush,omitempty"`
}

// Data is CORE's data context: one notification for every platform.
// Behaviour is what a click does (a URL to open); the per-platform variants
// override it.
type Data struct {
	Title              string    `json:"title,omitempty"`
	Body               string    `json:"body,omitempty"`
	Subtitle           string    `json:"subtitle,omitempty"`
	Icon               string    `json:"icon,omitempty"`
	SmallIcon          string    `json:"smallIcon,omitempty"`
	Image              string    `json:"image,omitempty"`
	ChannelName        string    `json:"channelName,omitempty"`
	Badge              *float64  `json:"badge,omitempty"`
	BadgeMobile        *float64  `json:"badgeMobile,omitempty"`
	Actions            []Action  `json:"actions,omitempty"`
	Behaviour          string    `json:"behaviour,omitempty"`
	BehaviourAndroid   string    `json:"behaviourAndroid,omitempty"`
	BehaviourHuawei    string    `json:"behaviourHuawei,omitempty"`
	BehaviourIos       string    `json:"behaviourIos,omitempty"`
	BehaviourWebPush   string    `json:"behaviourWebPush,omitempty"`
	ExpiresAt          string    `json:"expiresAt,omitempty"` // RFC 3339
	TTL                *float64  `json:"ttl,omitempty"`       // seconds
	Lang               string    `json:"lang,omitempty"`
	Renotify           *bool     `json:"renotify,omitempty"`
	RequireInteraction *bool     `json:"requireInteraction,omitempty"`
	Silent             *bool     `json:"silent,omitempty"`
	Tag                string    `json:"tag,omitempty"`
	ExternalData       string    `json:"externalData,omitempty"`
	Vibrate            []float64 `json:"vibrate,omitempty"`
	Sound              string    `json:"sound,omitempty"`
	SoundIos           string    `json:"soundIos,omitempty"`
	SoundAndroid       string    `json:"soundAndroid,omitempty"`
}

// Silent is CORE's silent context: data for the app, no alert.
type Silent struct {
	ExternalData string   `json:"externalData,omitempty"`
	ExpiresAt    string   `json:"expiresAt,omitempty"`
	TTL          *float64 `json:"ttl,omitempty"`
}

// StringOrMap is CORE's "string|object" data field: either a string or an
// object of string values.
type StringOrMap struct {
	String string
	Map    map[string]string
}

// IsZero reports whether nothing was given.
func (s StringOrMap) IsZero() bool { return s.String == "" && s.Map == nil }

func (s StringOrMap) MarshalJSON() ([]byte, error) {
	if s.Map != nil {
		return json.Marshal(s.Map)
	}
	return json.Marshal(s.String)
}

func (s *StringOrMap) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '{' {
		s.String = ""
		return json.Unmarshal(b, &s.Map)
	}
	s.Map = nil
	return json.Unmarshal(b, &s.String)
}

// RawCommon are defaults every platform of a raw context starts from.
type RawCommon struct {
	Title       string       `json:"title,omitempty"`
	Body        string       `json:"body,omitempty"`
	CollapseKey string       `json:"collapseKey,omitempty"`
	Data        *StringOrMap `json:"data,omitempty"`
	ExpiresAt   string       `json:"expiresAt,omitempty"`
	IconURL     string       `json:"iconUrl,omitempty"`
	ImageURL    string       `json:"imageUrl,omitempty"`
	TTL         *float64     `json:"ttl,omitempty"`
}

// WebAction is a Web Push notification button.
type WebAction struct {
	Action string `json:"action,omitempty"`
	Title  string `json:"title,omitempty"`
	Icon   string `json:"icon,omitempty"`
}

// RawWebPush is a raw context's notification for one browser family: the
// options of the Notification constructor, plus ttl and expiry.
type RawWebPush struct {
	Title              string          `json:"title,omitempty"`
	Body               string          `json:"body,omitempty"`
	Badge              string          `json:"badge,omitempty"`
	Image              string          `json:"image,omitempty"`
	Icon               string          `json:"icon,omitempty"`
	Actions            []WebAction     `json:"actions,omitempty"`
	Data               json.RawMessage `json:"data,omitempty"`          // string or object; unlike common.data, CORE allows any JSON values here
	DefaultAction      string          `json:"defaultAction,omitempty"` // URL opened on click
	Dir                string          `json:"dir,omitempty"`           // auto, ltr, rtl
	ExpiresAt          string          `json:"expiresAt,omitempty"`
	Lang               string          `json:"lang,omitempty"`
	Renotify           *bool           `json:"renotify,omitempty"`
	RequireInteraction *bool           `json:"requireInteraction,omitempty"`
	Silent             *bool           `json:"silent,omitempty"`
	Tag                string          `json:"tag,omitempty"`
	TTL                *float64        `json:"ttl,omitempty"`
	Vibrate            []float64       `json:"vibrate,omitempty"`
}

// RawHuawei is a raw context's Huawei Push Kit section, as CORE defines it;
// providers/hms sends it to hms receivers.
type RawHuawei struct {
	Notification  json.RawMessage `json:"notification,omitempty"`
	BiTag         string          `json:"biTag,omitempty"`
	CollapseKey   *float64        `json:"collapseKey,omitempty"`
	Data          string          `json:"data,omitempty"`
	FastAppTarget *float64        `json:"fastAppTarget,omitempty"`
	ReceiptID     string          `json:"receiptId,omitempty"`
	TTL           *float64        `json:"ttl,omitempty"`
	ExpiresAt     string          `json:"expiresAt,omitempty"`
}

// Raw is CORE's raw context: per-platform payloads over common defaults.
// IOS and Safari are APNS payloads (the whole JSON body, with "aps") and
// Android is an FCM v1 message's fields (notification, data, android); they
// are sent as given, with the common fields filling what they leave out.
type Raw struct {
	Common      *RawCommon      `json:"common,omitempty"`
	Chromium    *RawWebPush     `json:"chromium,omitempty"`
	Edge        *RawWebPush     `json:"edge,omitempty"`
	Firefox     *RawWebPush     `json:"firefox,omitempty"`
	SafariVapid *RawWebPush     `json:"safariVapid,omitempty"`
	Huawei      *RawHuawei      `json:"huawei,omitempty"`
	IOS         json.RawMessage `json:"ios,omitempty"`
	Safari      json.RawMessage `json:"safari,omitempty"`
	Android     json.RawMessage `json:"android,omitempty"`
}

// Body returns the JSON of the context's payload, as stored.
func (c *Context) Body() ([]byte, error) {
	switch c.Kind {
	case KindData:
		return json.Marshal(c.Data)
	case KindRaw:
		return json.Marshal(c.Raw)
	default:
		return json.Marshal(c.Silent)
	}
}

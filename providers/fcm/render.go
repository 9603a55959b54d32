package fcm

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"reflect"
	"strings"
	"time"

	"firebase.google.com/go/v4/messaging"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/contexts"
	"github.com/pushgate/pushgate/providers"
)

const (
	// maxTTL is FCM's longest time to live, used when a message sets none.
	maxTTL = 28 * 24 * time.Hour
	// maxPayload is what FCM accepts of notification and data together.
	maxPayload = 4096
)

// identity is what every rendered message carries so the app can report
// events for it (docs/payloads.md).
type identity struct {
	messageID, contextID, foreignID string
}

// worstIdentity has the longest values identity can take: ids are 36
// characters and a foreignId at most 255.
func worstIdentity() identity {
	return identity{
		messageID: strings.Repeat("m", 36),
		contextID: strings.Repeat("c", 36),
		foreignID: strings.Repeat("f", 255),
	}
}

// Check reports, when a context is created, whether it can be sent through
// FCM: a raw context's android section must decode, and notification and
// data must fit FCM's 4096 bytes with the longest identity values.
func Check(c *contexts.Context) error {
	field := checkedField(c)
	msg, err := build(c, worstIdentity(), "token", maxTTL)
	if err != nil {
		return pushgate.Invalid("the context cannot be sent through FCM", field+": "+err.Error())
	}
	if n := payloadSize(msg); n > maxPayload {
		return pushgate.Invalid("the context is too large for FCM",
			fmt.Sprintf("%s: notification and data take %d bytes with the longest message ids and foreignId; FCM accepts %d",
				field, n, maxPayload))
	}
	return nil
}

func checkedField(c *contexts.Context) string {
	switch {
	case c == nil:
		return "context"
	case c.Kind == contexts.KindRaw:
		return "android"
	case c.Kind == contexts.KindSilent:
		return "externalData"
	}
	return "data"
}

// payloadSize measures what FCM limits: the notification and the data the
// Android device receives (android.data replaces data when set).
func payloadSize(msg *messaging.Message) int {
	n := 0
	if msg.Notification != nil {
		b, _ := json.Marshal(msg.Notification)
		n += len(b)
	}
	data := msg.Data
	if msg.Android != nil && msg.Android.Data != nil {
		data = msg.Android.Data
	}
	if data != nil {
		b, _ := json.Marshal(data)
		n += len(b)
	}
	return n
}

// build renders c for one receiver. ttl is how long the message stays
// worth delivering.
func build(c *contexts.Context, id identity, token string, ttl time.Duration) (*messaging.Message, error) {
	if c == nil {
		return nil, errors.New("no context")
	}
	var msg *messaging.Message
	var err error
	switch {
	case c.Kind == contexts.KindData && c.Data != nil:
		msg, err = buildData(c.Data, id, ttl)
	case c.Kind == contexts.KindSilent && c.Silent != nil:
		msg = buildSilent(c.Silent, id, ttl)
	case c.Kind == contexts.KindRaw && c.Raw != nil:
		msg, err = buildRaw(c.Raw, id, ttl)
	default:
		return nil, fmt.Errorf("a %q context without its payload", c.Kind)
	}
	if err != nil {
		return nil, err
	}
	msg.Token = token
	tagByID(msg, id.messageID)
	return msg, validate(msg)
}

// tagByID gives a notification message whose context sets no tag of its
// own the message id as its android.notification.tag: sent twice (after a
// crash, or a lost answer), it replaces itself in the notification drawer
// instead of showing twice (docs/payloads.md). A context that sets a tag
// or a collapse key keeps its own. A data message gets none:
// a notification field would make it one, shown by the system instead of
// handed to the app. No collapse_key is derived: FCM keeps at most four
// collapse keys per device while it is offline, so a key per message would
// drop messages.
func tagByID(msg *messaging.Message, messageID string) {
	a := msg.Android
	if a == nil || a.CollapseKey != "" || msg.Notification == nil && a.Notification == nil {
		return
	}
	if a.Notification == nil {
		a.Notification = &messaging.AndroidNotification{}
	}
	if a.Notification.Tag == "" {
		a.Notification.Tag = messageID
	}
}

func buildData(d *contexts.Data, id identity, ttl time.Duration) (*messaging.Message, error) {
	data := identityData(id, d.ExternalData)
	am, err := actionsMap(d)
	if err != nil {
		return nil, err
	}
	if am != "" {
		data["actionsMap"] = am
	}
	msg := &messaging.Message{
		Data:    data,
		Android: &messaging.AndroidConfig{Priority: "high", TTL: &ttl, CollapseKey: d.Tag},
	}
	if d.Title != "" || d.Body != "" || d.Image != "" {
		msg.Notification = &messaging.Notification{Title: d.Title, Body: d.Body, ImageURL: d.Image}
	}
	an := &messaging.AndroidNotification{
		ChannelID: d.ChannelName,
		Icon:      d.SmallIcon,
		Sound:     cmp.Or(d.SoundAndroid, d.Sound),
		Tag:       d.Tag,
		ImageURL:  d.Image,
	}
	// A negative count is meaningless and FCM refuses it.
	if d.BadgeMobile != nil && *d.BadgeMobile >= 0 && *d.BadgeMobile <= math.MaxInt32 {
		n := int(math.Round(*d.BadgeMobile))
		an.NotificationCount = &n
	}
	if an.ChannelID != "" || an.Icon != "" || an.Sound != "" || an.Tag != "" || an.ImageURL != "" || an.NotificationCount != nil {
		msg.Android.Notification = an
	}
	return msg, nil
}

func buildSilent(s *contexts.Silent, id identity, ttl time.Duration) *messaging.Message {
	data := identityData(id, s.ExternalData)
	data["_silent"] = "true"
	// High priority: a normal-priority data message may wait for the device
	// to leave Doze, and a silent push exists to wake the app now.
	return &messaging.Message{Data: data, Android: &messaging.AndroidConfig{Priority: "high", TTL: &ttl}}
}

// rawAndroid is a raw context's android section: the message fields a
// sender may set, as FCM v1 names them. Targets are pushgate's to set.
type rawAndroid struct {
	Notification *messaging.Notification  `json:"notification"`
	Data         map[string]string        `json:"data"`
	Android      *messaging.AndroidConfig `json:"android"`
}

func buildRaw(r *contexts.Raw, id identity, ttl time.Duration) (*messaging.Message, error) {
	var ra rawAndroid
	if len(r.Android) > 0 && string(r.Android) != "null" {
		dec := json.NewDecoder(bytes.NewReader(r.Android))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ra); err != nil {
			return nil, fmt.Errorf("must be an object with notification, data (string values) and android as FCM v1 defines them: %s", jsonProblem(err))
		}
	}
	common := r.Common
	if common == nil {
		common = &contexts.RawCommon{}
	}

	n := ra.Notification
	if n == nil && (common.Title != "" || common.Body != "" || common.ImageURL != "") {
		n = &messaging.Notification{}
	}
	if n != nil {
		n.Title = cmp.Or(n.Title, common.Title)
		n.Body = cmp.Or(n.Body, common.Body)
		n.ImageURL = cmp.Or(n.ImageURL, common.ImageURL)
	}

	data := ra.Data
	if data == nil {
		data = map[string]string{}
	}
	if cd := common.Data; cd != nil {
		for k, v := range cd.Map {
			if _, set := data[k]; !set {
				data[k] = v
			}
		}
		if _, set := data["data"]; !set && cd.String != "" {
			data["data"] = cd.String
		}
	}
	addIdentity(data, id, "")

	a := ra.Android
	if a == nil {
		a = &messaging.AndroidConfig{}
	}
	a.CollapseKey = cmp.Or(a.CollapseKey, common.CollapseKey)
	if a.Priority == "" {
		a.Priority = "high"
	}
	// The earlier expiry wins: the section's own ttl or the message's.
	if a.TTL == nil || *a.TTL > ttl {
		a.TTL = &ttl
	}
	if a.Data != nil {
		// FCM gives Android devices android.data instead of data, so the
		// identity must be there too.
		addIdentity(a.Data, id, "")
	}
	return &messaging.Message{Notification: n, Data: data, Android: a}, nil
}

func identityData(id identity, externalData string) map[string]string {
	data := make(map[string]string, 6)
	addIdentity(data, id, externalData)
	return data
}

// addIdentity sets the identity keys, over anything of the same name: the
// app needs them to report events.
func addIdentity(data map[string]string, id identity, externalData string) {
	data["messageId"] = id.messageID
	data["contextId"] = id.contextID
	if id.foreignID != "" {
		data["foreignId"] = id.foreignID
	}
	if externalData != "" {
		data["externalData"] = externalData
	}
}

// actionsMap is the JSON of action id → URL to open, "default" being the
// notification's own click, or "" when nothing has a URL.
func actionsMap(d *contexts.Data) (string, error) {
	m := map[string]string{}
	for _, a := range d.Actions {
		if u := cmp.Or(a.BehaviourAndroid, a.Behaviour); a.Action != "" && u != "" {
			m[a.Action] = u
		}
	}
	// Set last: an action called "default" must not hijack the click.
	if u := cmp.Or(d.BehaviourAndroid, d.Behaviour); u != "" {
		m["default"] = u
	}
	if len(m) == 0 {
		return "", nil
	}
	// URLs keep their & < > as written; the app parses this string itself.
	b, err := providers.MarshalUnescaped(m)
	return string(b), err
}

// validate refuses what the Admin SDK would refuse before sending, so
// Check catches it when the context is created.
func validate(msg *messaging.Message) error {
	if n := msg.Notification; n != nil && n.ImageURL != "" {
		if _, err := url.ParseRequestURI(n.ImageURL); err != nil {
			return fmt.Errorf("image %q is not a URL", n.ImageURL)
		}
	}
	a := msg.Android
	if a == nil {
		return nil
	}
	if a.Priority != "normal" && a.Priority != "high" {
		return fmt.Errorf("android.priority must be \"normal\" or \"high\", not %q", a.Priority)
	}
	if a.TTL != nil && *a.TTL < 0 {
		return errors.New("android.ttl must not be negative")
	}
	an := a.Notification
	if an == nil {
		return nil
	}
	if an.ImageURL != "" {
		if _, err := url.ParseRequestURI(an.ImageURL); err != nil {
			return fmt.Errorf("android.notification.image %q is not a URL", an.ImageURL)
		}
	}
	if an.Color != "" && !isColor(an.Color) {
		return fmt.Errorf("android.notification.color must be #RRGGBB, not %q", an.Color)
	}
	if len(an.TitleLocArgs) > 0 && an.TitleLocKey == "" {
		return errors.New("android.notification.title_loc_args needs title_loc_key")
	}
	if len(an.BodyLocArgs) > 0 && an.BodyLocKey == "" {
		return errors.New("android.notification.body_loc_args needs body_loc_key")
	}
	if an.NotificationCount != nil && *an.NotificationCount < 0 {
		return errors.New("android.notification.notification_count must not be negative")
	}
	return nil
}

func isColor(s string) bool {
	if len(s) != 7 || s[0] != '#' {
		return false
	}
	for i := 1; i < 7; i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// ttlAt is how long a message expiring at expiresAt stays worth delivering
// at now, in whole seconds and at most FCM's maximum; ok is false once it
// has expired.
func ttlAt(expiresAt, now time.Time) (ttl time.Duration, ok bool) {
	if expiresAt.IsZero() {
		return maxTTL, true
	}
	left := expiresAt.Sub(now)
	if left <= 0 {
		return 0, false
	}
	return min(left.Truncate(time.Second), maxTTL), true
}

// jsonProblem words an error of decoding a raw section for the client who
// wrote it, in JSON's terms: encoding/json's own text names Go types
// ("Go struct field rawAndroid.data of type string").
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	switch {
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return strings.TrimPrefix(err.Error(), "json: ")
	case !errors.As(err, &te):
		// The SDK's own decoders of durations, colors and times answer in
		// Go's words ("failed to parse s: strconv.ParseInt: ...").
		return `a value is not in the form FCM v1 defines (durations such as "3.5s", colors as "#rrggbb", times in RFC 3339)`
	}
	want := "another JSON value"
	switch te.Type.Kind() {
	case reflect.Struct, reflect.Map:
		want = "an object"
	case reflect.Slice, reflect.Array:
		want = "an array"
	case reflect.String:
		want = "a string"
	case reflect.Bool:
		want = "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		want = "a number"
	}
	// The SDK decodes its types through aliases (androidInternal, ...),
	// which show in the path as if they were fields.
	var path []string
	for _, name := range strings.Split(te.Field, ".") {
		if name != "" && !strings.HasSuffix(name, "Internal") {
			path = append(path, name)
		}
	}
	if len(path) == 0 {
		return fmt.Sprintf("expected %s, got %s", want, te.Value)
	}
	return fmt.Sprintf("%s: expected %s, got %s", strings.Join(path, "."), want, te.Value)
}

package apns

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/sideshow/apns2"

	"github.com/pushgate/pushgate/contexts"
)

// MaxPayload is the largest body APNS accepts for alert and background
// notifications.
const MaxPayload = 4096

// maxCollapseID is Apple's limit on apns-collapse-id, in bytes.
const maxCollapseID = 64

// identity is what every payload carries so clients can report events.
type identity struct {
	messageID string
	contextID string
	foreignID string
}

// rendered is a context made into one APNS request's body and headers.
type rendered struct {
	body       []byte
	pushType   apns2.EPushType
	priority   int
	collapseID string
}

type alert struct {
	Title    string `json:"title,omitempty"`
	Subtitle string `json:"subtitle,omitempty"`
	Body     string `json:"body,omitempty"`
}

type aps struct {
	Alert            *alert `json:"alert,omitempty"`
	Badge            *int   `json:"badge,omitempty"`
	Sound            string `json:"sound,omitempty"`
	ThreadID         string `json:"thread-id,omitempty"`
	Category         string `json:"category,omitempty"`
	ContentAvailable int    `json:"content-available,omitempty"`
	MutableContent   int    `json:"mutable-content,omitempty"`
}

type action struct {
	Action string `json:"action"`
	Title  string `json:"title,omitempty"`
}

// payload is the body of data and silent contexts; field order is the
// order of docs/payloads.md, which keeps bodies easy to read in logs.
type payload struct {
	APS          aps               `json:"aps"`
	MessageID    string            `json:"messageId"`
	ContextID    string            `json:"contextId"`
	ForeignID    string            `json:"foreignId,omitempty"`
	ExternalData string            `json:"externalData,omitempty"`
	Image        string            `json:"image,omitempty"`
	ActionsMap   map[string]string `json:"actionsMap,omitempty"`
	Actions      []action          `json:"actions,omitempty"`
}

// render makes c into a request for one receiver. safari selects the raw
// context's safari section, for credentials whose topic is a website push id.
func render(c *contexts.Context, id identity, safari bool) (rendered, error) {
	r, err := renderContext(c, id, safari)
	if err == nil && r.collapseID == "" {
		r.collapseID = collapseID(id.messageID)
	}
	return r, err
}

// renderContext is render with only the context's own collapse id, if it
// has one.
func renderContext(c *contexts.Context, id identity, safari bool) (rendered, error) {
	switch {
	case c.Kind == contexts.KindData && c.Data != nil:
		return renderData(c.Data, id)
	case c.Kind == contexts.KindSilent && c.Silent != nil:
		return renderSilent(c.Silent, id)
	case c.Kind == contexts.KindRaw && c.Raw != nil:
		return renderRaw(c.Raw, id, safari)
	}
	return rendered{}, fmt.Errorf("context of kind %q has no %s payload", c.Kind, c.Kind)
}

func renderData(d *contexts.Data, id identity) (rendered, error) {
	p := payload{
		MessageID:    id.messageID,
		ContextID:    id.contextID,
		ForeignID:    id.foreignID,
		ExternalData: d.ExternalData,
		Image:        d.Image,
		ActionsMap:   map[string]string{},
	}
	if d.Title != "" || d.Subtitle != "" || d.Body != "" {
		p.APS.Alert = &alert{Title: d.Title, Subtitle: d.Subtitle, Body: d.Body}
	}
	if b := cmp.Or(d.BadgeMobile, d.Badge); b != nil {
		n := int(math.Round(*b))
		p.APS.Badge = &n
	}
	p.APS.Sound = cmp.Or(d.SoundIos, d.Sound)
	p.APS.ThreadID = d.Tag
	if d.Image != "" {
		// A notification service extension can only fetch the image when
		// iOS is told the content may change.
		p.APS.MutableContent = 1
	}
	if url := cmp.Or(d.BehaviourIos, d.Behaviour); url != "" {
		p.ActionsMap["default"] = url
	}
	var ids []string
	for _, a := range d.Actions {
		if a.Action == "" {
			continue // nothing could name it in the category or the map
		}
		ids = append(ids, a.Action)
		p.Actions = append(p.Actions, action{Action: a.Action, Title: a.Title})
		if url := cmp.Or(a.BehaviourIos, a.Behaviour); url != "" {
			p.ActionsMap[a.Action] = url
		}
	}
	if len(ids) > 0 {
		p.APS.Category = "pushgate." + strings.Join(ids, ".")
	}
	body, err := marshal(p)
	if err != nil {
		return rendered{}, err
	}
	return rendered{
		body:       body,
		pushType:   apns2.PushTypeAlert,
		priority:   apns2.PriorityHigh,
		collapseID: collapseID(d.Tag),
	}, nil
}

func renderSilent(s *contexts.Silent, id identity) (rendered, error) {
	p := payload{
		APS:          aps{ContentAvailable: 1},
		MessageID:    id.messageID,
		ContextID:    id.contextID,
		ForeignID:    id.foreignID,
		ExternalData: s.ExternalData,
	}
	body, err := marshal(p)
	if err != nil {
		return rendered{}, err
	}
	// Apple refuses priority 10 for background pushes.
	return rendered{body: body, pushType: apns2.PushTypeBackground, priority: apns2.PriorityLow}, nil
}

func renderRaw(r *contexts.Raw, id identity, safari bool) (rendered, error) {
	section, name := r.IOS, "ios"
	if safari {
		section, name = r.Safari, "safari"
	}
	obj := map[string]json.RawMessage{}
	if len(section) > 0 && !bytes.Equal(bytes.TrimSpace(section), []byte("null")) {
		if err := decodeObject(section, &obj); err != nil {
			return rendered{}, fmt.Errorf("%s: must be a JSON object: %w", name, err)
		}
	}
	a := map[string]json.RawMessage{}
	if raw, ok := obj["aps"]; ok {
		if err := decodeObject(raw, &a); err != nil {
			return rendered{}, fmt.Errorf("%s.aps: must be a JSON object: %w", name, err)
		}
	}
	common := r.Common
	if common == nil {
		common = &contexts.RawCommon{}
	}
	if _, ok := a["alert"]; !ok && (common.Title != "" || common.Body != "") {
		b, err := marshal(alert{Title: common.Title, Body: common.Body})
		if err != nil {
			return rendered{}, err
		}
		a["alert"] = b
	}
	apsBody, err := marshal(a)
	if err != nil {
		return rendered{}, err
	}
	obj["aps"] = apsBody
	if d := common.Data; d != nil {
		// common only fills what the platform section left out.
		fill := map[string]string{}
		if d.Map != nil {
			fill = d.Map
		} else if d.String != "" {
			fill["data"] = d.String
		}
		for k, v := range fill {
			if _, ok := obj[k]; !ok {
				if obj[k], err = marshal(v); err != nil {
					return rendered{}, err
				}
			}
		}
	}
	// The identity always wins: events reported with any other ids would be
	// refused.
	for k, v := range map[string]string{"messageId": id.messageID, "contextId": id.contextID, "foreignId": id.foreignID} {
		delete(obj, k)
		if v != "" {
			if obj[k], err = marshal(v); err != nil {
				return rendered{}, err
			}
		}
	}
	body, err := marshal(obj)
	if err != nil {
		return rendered{}, err
	}
	out := rendered{body: body, pushType: apns2.PushTypeAlert, priority: apns2.PriorityHigh, collapseID: collapseID(common.CollapseKey)}
	if isBackground(a) {
		out.pushType, out.priority = apns2.PushTypeBackground, apns2.PriorityLow
	}
	return out, nil
}

// isBackground reports whether an aps dictionary only wakes the app: Apple
// wants such pushes typed background and sent at priority 5.
func isBackground(a map[string]json.RawMessage) bool {
	if string(a["content-available"]) != "1" {
		return false
	}
	for _, k := range []string{"alert", "badge", "sound"} {
		if _, ok := a[k]; ok {
			return false
		}
	}
	return true
}

func decodeObject(b []byte, v *map[string]json.RawMessage) error {
	if t := bytes.TrimSpace(b); len(t) == 0 || t[0] != '{' {
		return errors.New("not an object")
	}
	return json.Unmarshal(b, v)
}

// marshal encodes as apns2 will re-encode the body (json.Marshal escapes
// HTML characters even in a Marshaler's output), so that sizes measured here
// are the sizes Apple receives.
func marshal(v any) ([]byte, error) { return json.Marshal(v) }

// collapseID is tag when Apple would accept it; a longer one is dropped
// rather than cut, since a cut tag could collapse unrelated notifications.
// A message whose context sets none collapses on its own id
// (docs/payloads.md): sent twice (after a crash, or a lost answer), it
// replaces itself on the device instead of showing twice.
func collapseID(tag string) string {
	if len(tag) > maxCollapseID {
		return ""
	}
	return tag
}

package websocket

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/pushgate/pushgate/contexts"
	"github.com/pushgate/pushgate/inbox"
	"github.com/pushgate/pushgate/providers"
)

// Priority is every CORE message's inbox priority: CORE has none, and 5 is
// the notifications API's default.
const Priority = 5

// Extras is what a CORE notification carries in its extras, besides the
// inbox's own fields: the ids a CORE client knows the message by, and what
// of the context has no inbox field. Empty members are left out.
type Extras struct {
	ContextID    string          `json:"contextId"`
	ForeignID    string          `json:"foreignId,omitempty"`
	Subtitle     string          `json:"subtitle,omitempty"`
	Icon         string          `json:"icon,omitempty"`
	Badge        *float64        `json:"badge,omitempty"`
	Tag          string          `json:"tag,omitempty"`
	Actions      []Action        `json:"actions,omitempty"`
	ExternalData string          `json:"externalData,omitempty"`
	Data         json.RawMessage `json:"data,omitempty"`
	Silent       bool            `json:"silent,omitempty"`
}

// Action is a button of a data context: its id and title, and the URL a
// click on it opens.
type Action struct {
	Action string `json:"action,omitempty"`
	Title  string `json:"title,omitempty"`
	Icon   string `json:"icon,omitempty"`
	URL    string `json:"url,omitempty"`
}

// Render makes the inbox notification of m (its context already carries
// the CDN's image URLs): title, message, image and click URL from the
// context's neutral fields, the rest in Extras. A data context gives its
// title, body, image and behaviour (the web one when it has no general
// one); a raw context its common section, filled in from its chromium
// section; a silent one only extras (externalData, silent: true).
func Render(m *providers.Message) (*inbox.Notification, error) {
	c := m.Context
	if c == nil {
		return nil, errors.New("message has no context")
	}
	n := &inbox.Notification{ID: m.ID, AppID: c.AppID, Priority: Priority, UserIDs: []string{m.Receiver.UserID},
		Source: inbox.SourceCore, BucketID: c.BucketID, MessageID: m.ID, ContextID: c.ID, ExpiresAt: m.ExpiresAt}
	if n.ExpiresAt.IsZero() {
		n.ExpiresAt = c.ExpiresAt()
	}
	x := Extras{ContextID: c.ID, ForeignID: cmp.Or(m.ForeignID, m.Receiver.ForeignID)}
	switch {
	case c.Kind == contexts.KindData && c.Data != nil:
		renderData(n, &x, c.Data)
	case c.Kind == contexts.KindRaw && c.Raw != nil:
		if err := renderRaw(n, &x, c.Raw); err != nil {
			return nil, err
		}
	case c.Kind == contexts.KindSilent && c.Silent != nil:
		x.ExternalData, x.Silent = c.Silent.ExternalData, true
	default:
		return nil, fmt.Errorf("context of kind %q has no %s payload", c.Kind, c.Kind)
	}
	var err error
	n.Extras, err = encode(&x)
	return n, err
}

func renderData(n *inbox.Notification, x *Extras, d *contexts.Data) {
	n.Title, n.Message, n.ImageURL = d.Title, d.Body, d.Image
	n.ClickURL = cmp.Or(d.Behaviour, d.BehaviourWebPush)
	x.Subtitle, x.Icon, x.Badge, x.Tag, x.ExternalData = d.Subtitle, d.Icon, d.Badge, d.Tag, d.ExternalData
	for _, a := range d.Actions {
		x.Actions = append(x.Actions, Action{Action: a.Action, Title: a.Title, Icon: a.Icon, URL: cmp.Or(a.Behaviour, a.BehaviourWebPush)})
	}
}

func renderRaw(n *inbox.Notification, x *Extras, r *contexts.Raw) error {
	c, w := r.Common, r.Chromium
	if c == nil {
		c = &contexts.RawCommon{}
	}
	if w == nil {
		w = &contexts.RawWebPush{}
	}
	n.Title, n.Message = cmp.Or(c.Title, w.Title), cmp.Or(c.Body, w.Body)
	n.ImageURL, n.ClickURL = cmp.Or(c.ImageURL, w.Image), w.DefaultAction
	x.Icon, x.Tag = cmp.Or(c.IconURL, w.Icon), w.Tag
	switch {
	case c.Data != nil && !c.Data.IsZero():
		data, err := json.Marshal(c.Data)
		if err != nil {
			return fmt.Errorf("common.data: %w", err)
		}
		x.Data = data
	case len(w.Data) > 0 && !bytes.Equal(bytes.TrimSpace(w.Data), []byte("null")):
		x.Data = w.Data
	}
	return nil
}

// encode marshals x without HTML escaping: it is data for an app, not a
// page.
func encode(x *Extras) (json.RawMessage, error) {
	return providers.MarshalUnescaped(x)
}

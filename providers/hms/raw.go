package hms

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/pushgate/pushgate/contexts"
)

// renderRaw renders a raw context: its huawei section (as CORE defines it)
// over the common defaults. huawei.notification is Push Kit's
// android.notification object, sent as given with common's title, body and
// image filling what it leaves out; huawei.data, when set, is the whole
// message.data (CORE: it overwrites the data), so such a message carries no
// ids and is the same for every receiver.
func renderRaw(r *contexts.Raw, id identity, ttl time.Duration) (*message, error) {
	h := r.Huawei
	if h == nil {
		h = &contexts.RawHuawei{}
	}
	cm := r.Common
	if cm == nil {
		cm = &contexts.RawCommon{}
	}
	a := &android{Urgency: "HIGH", TTL: ttlString(min(ttl, sectionTTL(h, ttl))), BiTag: h.BiTag, ReceiptID: h.ReceiptID}
	var err error
	if a.FastAppTarget, err = wholeNumber(h.FastAppTarget); err != nil {
		return nil, errors.New("fastAppTarget: " + err.Error())
	}
	if a.CollapseKey, err = wholeNumber(h.CollapseKey); err != nil {
		return nil, errors.New("collapseKey: " + err.Error())
	}
	n, err := rawNotification(h.Notification, cm)
	if err != nil {
		return nil, err
	}
	a.Notification = n
	msg := &message{Android: a}
	if h.Data != "" {
		msg.Data = h.Data
		return msg, nil
	}
	extra := map[string]any{}
	if cm.Data != nil {
		if cm.Data.Map != nil {
			for k, v := range cm.Data.Map {
				extra[k] = v
			}
		} else if cm.Data.String != "" {
			extra["data"] = cm.Data.String
		}
	}
	if n != nil {
		// Not above: a message whose huawei.data replaces the data carries
		// no ids, and is one request for all its receivers.
		tagByID(n, id.messageID)
	}
	msg.Data, err = dataString(identityData(id, "", extra))
	return msg, err
}

// sectionTTL is the huawei section's own ttl, which only shortens the
// message's; def when it sets none.
func sectionTTL(h *contexts.RawHuawei, def time.Duration) time.Duration {
	if h.TTL == nil || *h.TTL <= 0 {
		return def
	}
	return time.Duration(*h.TTL) * time.Second
}

func rawNotification(raw json.RawMessage, cm *contexts.RawCommon) (map[string]any, error) {
	n := map[string]any{}
	if len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &n); err != nil || n == nil {
			return nil, errors.New("notification: must be an object (Push Kit's android.notification)")
		}
	}
	fill := func(k, v string) {
		if _, ok := n[k]; !ok && v != "" {
			n[k] = v
		}
	}
	fill("title", cm.Title)
	fill("body", cm.Body)
	fill("image", cm.ImageURL)
	if len(n) == 0 {
		return nil, nil // data only
	}
	if _, ok := n["click_action"]; !ok {
		n["click_action"] = clickAction("")
	}
	// Push Kit requires both in a notification message.
	for _, k := range []string{"title", "body"} {
		if _, ok := n[k]; !ok {
			n[k] = " "
		}
	}
	return n, nil
}

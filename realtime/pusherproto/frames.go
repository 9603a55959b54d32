package pusherproto

import (
	"encoding/json"
	"strconv"

	"github.com/pushgate/pushgate/realtime"
)

// TypeFrame is the hub message type of a whole Pusher frame: its payload
// is the frame, encoded once by whoever published it.
const TypeFrame = "pusher"

// Close codes and pusher:error codes, in Pusher's ranges: 4000-4099 the
// client must not reconnect, 4100-4199 it backs off, 4200-4299 it
// reconnects at once; 4300-4399 are errors that do not close.
const (
	CloseUnknownApp       = 4001
	CloseBadVersion       = 4006 // the protocol parameter is no number
	CloseUnsupported      = 4007
	CloseNoVersion        = 4008
	CloseUnauthorized     = 4009
	CloseOverCapacity     = 4100
	CloseReconnect        = 4200
	ClosePongNotReceived  = 4201
	ErrClientEventLimited = 4301
)

// protocol renders the hub's Pusher frames as they are, and nothing else:
// the inbox's messages to a Pusher session's app or user have no Pusher
// frame, and such a session skips them.
type protocol struct{}

// Protocol is the Pusher protocol's realtime.Protocol.
var Protocol realtime.Protocol = &protocol{}

func (*protocol) Render(m realtime.Message) ([]byte, error) {
	if m.Type != TypeFrame {
		return nil, nil
	}
	return m.Payload, nil
}

// Frame is a hub message carrying a whole frame.
func Frame(frame []byte) realtime.Message { return realtime.Message{Type: TypeFrame, Payload: frame} }

// eventFrame encodes {"event":..,"channel":..,"data":..[,"user_id":..]};
// data is JSON already, channel and userID are left out when "".
func eventFrame(event, channel string, data json.RawMessage, userID string) []byte {
	b := make([]byte, 0, len(data)+len(event)+len(channel)+len(userID)+48)
	b = append(b, `{"event":`...)
	b = appendString(b, event)
	if channel != "" {
		b = append(b, `,"channel":`...)
		b = appendString(b, channel)
	}
	if data != nil {
		b = append(b, `,"data":`...)
		b = append(b, data...)
	}
	if userID != "" {
		b = append(b, `,"user_id":`...)
		b = appendString(b, userID)
	}
	return append(b, '}')
}

// appendString appends s as a JSON string, as json.Marshal writes it:
// printable ASCII other than ", \, <, > and & as it is (event names,
// channel names, socket ids), anything else through json.Marshal.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// establishedData is connection_established's data, as stringData of
// {socket_id, activity_timeout} would encode it; a socket id is digits
// and a dot.
func establishedData(socketID string, activityTimeout int) json.RawMessage {
	b := make([]byte, 0, len(socketID)+48)
	b = append(b, `"{\"socket_id\":\"`...)
	b = append(b, socketID...)
	b = append(b, `\",\"activity_timeout\":`...)
	b = strconv.AppendInt(b, int64(activityTimeout), 10)
	return append(b, `}"`...)
}

// stringData is v encoded as JSON, then as a JSON string: most server
// frames carry their data that way.
func stringData(v any) json.RawMessage {
	inner, _ := json.Marshal(v)
	outer, _ := json.Marshal(string(inner))
	return outer
}

func objectData(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// errorFrame is pusher:error; code 0 is sent as null (an error that asks
// nothing of the client).
func errorFrame(code int, message string) []byte {
	d := struct {
		Code    *int   `json:"code"`
		Message string `json:"message"`
	}{Message: message}
	if code != 0 {
		d.Code = &code
	}
	return eventFrame("pusher:error", "", objectData(d), "")
}

// subscriptionError is pusher:subscription_error for channel.
func subscriptionError(channel, typ, message string, status int) []byte {
	return eventFrame("pusher:subscription_error", channel, objectData(struct {
		Type   string `json:"type"`
		Error  string `json:"error"`
		Status int    `json:"status"`
	}{typ, message, status}), "")
}

package inboxproto

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/pushgate/pushgate/inbox"
)

// Client frame types.
const (
	TypeAck     = "ack"
	TypeRead    = "read"
	TypeReadAll = "read_all"
	TypeDelete  = "delete"
	TypePing    = "ping"
	// TypeHistory is both a client request and the server's answer.
)

// Bounds of client frames.
const (
	MaxIDs      = 100 // ids in one ack, read or delete
	maxIDLength = 64
	maxRef      = 64
	maxCursor   = 512
	maxLimit    = 100
	defLimit    = 20
)

// request is a client frame, checked.
type request struct {
	Type   string
	Ref    string
	IDs    []string
	Filter inbox.Filter
	Since  time.Time
	Cursor string
	Limit  int
}

// frameError is what a bad client frame gets: an error frame with a code.
type frameError struct {
	code, message, ref string
}

func (e *frameError) Error() string { return e.code + ": " + e.message }

func invalid(ref, format string, args ...any) *frameError {
	return &frameError{code: ErrInvalid, message: fmt.Sprintf(format, args...), ref: ref}
}

// parse reads and checks one client frame.
func parse(data []byte) (*request, *frameError) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil || fields == nil {
		return nil, &frameError{code: ErrMalformed, message: "a frame is one JSON object with a string \"type\""}
	}
	var r request
	if raw, ok := fields["ref"]; ok {
		if json.Unmarshal(raw, &r.Ref) != nil || len(r.Ref) > maxRef {
			return nil, &frameError{code: ErrInvalid, message: fmt.Sprintf("ref: a string of at most %d characters", maxRef)}
		}
	}
	raw, ok := fields["type"]
	if !ok || json.Unmarshal(raw, &r.Type) != nil || r.Type == "" {
		return nil, &frameError{code: ErrMalformed, message: "type: a non-empty string is required", ref: r.Ref}
	}
	switch r.Type {
	case TypePing, TypeReadAll:
		return &r, nil
	case TypeAck, TypeRead, TypeDelete:
		return &r, r.parseIDs(fields["ids"])
	case TypeHistory:
		return &r, r.parseHistory(fields)
	}
	return nil, &frameError{code: ErrUnknownType, message: fmt.Sprintf("type: %q is not a client frame (ack, read, read_all, delete, history, ping)", r.Type), ref: r.Ref}
}

func (r *request) parseIDs(raw json.RawMessage) *frameError {
	if raw == nil {
		return invalid(r.Ref, "ids: required, a list of notification ids")
	}
	if json.Unmarshal(raw, &r.IDs) != nil || r.IDs == nil {
		return invalid(r.Ref, "ids: a list of strings")
	}
	if len(r.IDs) == 0 || len(r.IDs) > MaxIDs {
		return invalid(r.Ref, "ids: between 1 and %d ids", MaxIDs)
	}
	for i, id := range r.IDs {
		if id == "" || len(id) > maxIDLength {
			return invalid(r.Ref, "ids[%d]: a notification id", i)
		}
	}
	return nil
}

func (r *request) parseHistory(fields map[string]json.RawMessage) *frameError {
	r.Filter, r.Limit = inbox.FilterAll, defLimit
	if raw, ok := fields["status"]; ok {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return invalid(r.Ref, "status: unseen, seen or all")
		}
		switch f := inbox.Filter(s); f {
		case inbox.FilterUnseen, inbox.FilterSeen, inbox.FilterAll:
			r.Filter = f
		default:
			return invalid(r.Ref, "status: unseen, seen or all")
		}
	}
	if raw, ok := fields["since"]; ok {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return invalid(r.Ref, "since: an RFC 3339 time")
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return invalid(r.Ref, "since: an RFC 3339 time")
		}
		r.Since = t
	}
	if raw, ok := fields["cursor"]; ok {
		if json.Unmarshal(raw, &r.Cursor) != nil || len(r.Cursor) > maxCursor {
			return invalid(r.Ref, "cursor: the cursor of a previous history frame")
		}
	}
	if raw, ok := fields["limit"]; ok {
		if json.Unmarshal(raw, &r.Limit) != nil || r.Limit < 1 || r.Limit > maxLimit {
			return invalid(r.Ref, "limit: a whole number from 1 to %d", maxLimit)
		}
	}
	return nil
}

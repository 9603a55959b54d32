package inbox

import "encoding/json"

// MaxRecipients bounds the users one notification names.
const MaxRecipients = 1000

// MaxPageSize bounds a page of tokens, notifications or inbox items
// (default 20).
const MaxPageSize = 100

// NewNotification is a notification as the API receives it.
type NewNotification struct {
	Title    string          `json:"title"`    // ≤ 256 chars; title or message required
	Message  string          `json:"message"`  // ≤ 4096 chars
	Priority *int            `json:"priority"` // 1..10, default 5
	TTL      *int64          `json:"ttl"`      // seconds, 1..MaxAge; default MaxAge
	Extras   json.RawMessage `json:"extras"`   // a JSON object (or absent/null), ≤ 8 KiB
	ImageURL string          `json:"imageUrl"` // absolute http(s) URL ≤ 2048, optional
	ClickURL string          `json:"clickUrl"` // absolute URL ≤ 2048, optional
	To       *Recipients     `json:"to"`       // nil: broadcast
}

// Recipients are the users a notification is for.
type Recipients struct {
	UserIDs []string `json:"userIds"` // 1..1000, each a valid user id; duplicates removed
}

package inbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/pushgate/pushgate"
)

// Limits of what a notification and a token may hold.
const (
	MaxRecipients = 1000
	MaxPageSize   = 100 // limit ≤ 100, default 20 (tokens, notifications, inbox)
	// MaxMarks is how many ids one Mark takes.
	MaxMarks        = 100
	defaultPageSize = 20
	maxTitle        = 256
	maxMessage      = 4096
	maxExtras       = 8 << 10
	maxURL          = 2048
	maxUserID       = 200
	maxTokenName    = 100
	defaultPriority = 5
)

// checkText is "" when s is storable text of at most max characters, or
// the problem.
func checkText(s string, max int) string {
	if !pushgate.StorableText(s) {
		return "must be UTF-8 text without NUL"
	}
	if utf8.RuneCountInString(s) > max {
		return fmt.Sprintf("must be at most %d characters", max)
	}
	return ""
}

// checkUserID is "" when id is a valid user id, or the problem.
func checkUserID(id string) string {
	if id == "" {
		return "is required"
	}
	if p := checkText(id, maxUserID); p != "" {
		return p
	}
	if strings.IndexFunc(id, unicode.IsControl) >= 0 {
		return "must not contain control characters"
	}
	return ""
}

// pageSize is limit, or the default when 0.
func pageSize(limit int) (int, error) {
	switch {
	case limit == 0:
		return defaultPageSize, nil
	case limit < 0 || limit > MaxPageSize:
		return 0, pushgate.Invalid("the limit is invalid", fmt.Sprintf("limit: must be 1 to %d", MaxPageSize))
	}
	return limit, nil
}

// checkURL is "" when raw is empty or an absolute URL of a scheme schemes
// allows, or the problem.
func checkURL(raw string, schemes func(string) bool) string {
	if raw == "" {
		return ""
	}
	if p := checkText(raw, maxURL); p != "" {
		return p
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || !schemes(strings.ToLower(u.Scheme)) {
		return "must be an absolute URL"
	}
	if (u.Scheme == "http" || u.Scheme == "https") && u.Host == "" {
		return "must be an absolute URL"
	}
	return ""
}

func webScheme(s string) bool { return s == "http" || s == "https" }

// clickScheme allows web links and apps' own schemes (deep links), but no
// scheme that runs or embeds content where a client shows the link.
func clickScheme(s string) bool {
	switch s {
	case "javascript", "data", "vbscript", "file", "blob":
		return false
	}
	return true
}

// checkExtras returns extras compacted (nil when absent or null), or the
// problem.
func checkExtras(extras json.RawMessage) (json.RawMessage, string) {
	trimmed := bytes.TrimSpace(extras)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		return nil, ""
	}
	if len(trimmed) > maxExtras {
		return nil, fmt.Sprintf("must be at most %d bytes", maxExtras)
	}
	if !pushgate.StorableText(string(trimmed)) || !json.Valid(trimmed) {
		return nil, "must be a JSON object"
	}
	if trimmed[0] != '{' {
		return nil, "must be a JSON object"
	}
	var b bytes.Buffer
	if err := json.Compact(&b, trimmed); err != nil {
		return nil, "must be a JSON object"
	}
	if bytes.Contains(b.Bytes(), []byte(`\u0000`)) {
		return nil, "must not contain NUL characters"
	}
	return b.Bytes(), ""
}

// validate checks n against the limits, and its imageUrl against guard,
// and returns the unique recipients (nil for a broadcast).
func (n *NewNotification) validate(guard *pushgate.SSRFGuard) (users []string, err error) {
	var fields []string
	bad := func(field, problem string) {
		if problem != "" {
			fields = append(fields, field+": "+problem)
		}
	}
	bad("title", checkText(n.Title, maxTitle))
	bad("message", checkText(n.Message, maxMessage))
	if strings.TrimSpace(n.Title) == "" && strings.TrimSpace(n.Message) == "" {
		bad("message", "a title or a message is required")
	}
	if n.Priority != nil && (*n.Priority < 1 || *n.Priority > 10) {
		bad("priority", "must be 1 to 10")
	}
	if n.TTL != nil && *n.TTL < 1 {
		bad("ttl", "must be at least 1 second")
	}
	extras, problem := checkExtras(n.Extras)
	bad("extras", problem)
	n.Extras = extras
	bad("imageUrl", checkImageURL(n.ImageURL, guard))
	bad("clickUrl", checkURL(n.ClickURL, clickScheme))
	if n.To != nil {
		users = uniqueUsers(n.To.UserIDs, bad)
	}
	if len(fields) > 0 {
		return nil, pushgate.Invalid("the notification is invalid", fields...)
	}
	return users, nil
}

// uniqueUsers checks a recipient list and returns it without duplicates,
// in its order.
func uniqueUsers(ids []string, bad func(field, problem string)) []string {
	if len(ids) == 0 || len(ids) > MaxRecipients {
		bad("to.userIds", fmt.Sprintf("must list 1 to %d users", MaxRecipients))
		return nil
	}
	seen := make(map[string]bool, len(ids))
	users := make([]string, 0, len(ids))
	for i, id := range ids {
		if p := checkUserID(id); p != "" {
			bad(fmt.Sprintf("to.userIds[%d]", i), p)
			continue
		}
		if !seen[id] {
			seen[id] = true
			users = append(users, id)
		}
	}
	return users
}

package pusherproto

import "strings"

// MaxChannelName is the longest channel name Pusher accepts.
const MaxChannelName = 164

// userChannelPrefix names the channel a signed-in connection hears its
// user's events on; pusher-js subscribes to it after sign-in.
const userChannelPrefix = "#server-to-user-"

// kind is what a channel's name makes it.
type kind int

const (
	public kind = iota
	private
	encrypted
	presence
	userChannel
)

// kindOf classifies a channel name.
func kindOf(name string) kind {
	switch {
	case strings.HasPrefix(name, userChannelPrefix):
		return userChannel
	case strings.HasPrefix(name, "private-encrypted-"):
		return encrypted
	case strings.HasPrefix(name, "private-"):
		return private
	case strings.HasPrefix(name, "presence-"):
		return presence
	}
	return public
}

// isCache reports whether name is a cache channel (cache-, private-cache-,
// private-encrypted-cache-, presence-cache-): a new subscriber hears its
// last event.
func isCache(name string) bool {
	for _, p := range [...]string{"cache-", "private-cache-", "private-encrypted-cache-", "presence-cache-"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// validName says what is wrong with a channel name ("" when nothing):
// at most 164 characters of a-z, A-Z, 0-9 and _ - = @ , . ; (the user
// channel's leading # aside).
func validName(name string) string {
	if name == "" {
		return "the channel name is empty"
	}
	if len(name) > MaxChannelName {
		return "the channel name is longer than 164 characters"
	}
	rest := strings.TrimPrefix(name, "#server-to-user-")
	if len(rest) == 0 {
		return "the channel name names no user"
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_-=@,.;", c) >= 0
		if !ok {
			return "the channel name may hold only a-z, A-Z, 0-9 and _-=@,.;"
		}
	}
	return ""
}

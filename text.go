package pushgate

import (
	"strings"
	"unicode/utf8"
)

// StorableText reports whether every backend can store s as text:
// PostgreSQL refuses NUL characters and invalid UTF-8 in text and jsonb,
// SQLite takes both, so what is accepted must be held to the narrower
// rule for the backends to agree. The HTTP API refuses such input at the
// door; domain packages check it again for callers that are not HTTP.
func StorableText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

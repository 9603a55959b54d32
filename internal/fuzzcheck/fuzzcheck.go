// Package fuzzcheck holds the properties that every fuzz target of a parser
// of outside input checks of the errors it returns: a refusal is one
// *pushgate.Error with code EINVALID, a message, and problems of the form
// "field: problem", none of which speaks Go to an API client. It is imported
// by tests only.
package fuzzcheck

import (
	"errors"
	"regexp"
	"strings"

	"github.com/pushgate/pushgate"
)

// Refused returns what is wrong with err as a parser's refusal of input, or
// "" when nothing is. Each problem's field must start with one of
// fieldPrefixes (any field, when none is given).
func Refused(err error, fieldPrefixes ...string) string {
	var e *pushgate.Error
	switch {
	case err == nil:
		return "no error"
	case !errors.As(err, &e):
		return "error " + err.Error() + " is not a *pushgate.Error"
	case e.Code != pushgate.EINVALID:
		return "error " + err.Error() + " has code " + e.Code + ", want " + pushgate.EINVALID
	case strings.TrimSpace(e.Message) == "":
		return "error " + err.Error() + " has no message"
	case len(e.Fields) == 0:
		return "error " + err.Error() + " names no field"
	}
	if s := GoSpelling(e.Message); s != "" {
		return "message " + quote(e.Message) + " shows Go's " + quote(s)
	}
	for _, f := range e.Fields {
		if s := Problem(f, fieldPrefixes...); s != "" {
			return s
		}
	}
	return ""
}

// Problem returns what is wrong with one "field: problem" entry, or "".
func Problem(p string, fieldPrefixes ...string) string {
	field, text, ok := strings.Cut(p, ": ")
	if !ok || strings.TrimSpace(field) == "" || strings.TrimSpace(text) == "" {
		return "problem " + quote(p) + " is not \"field: problem\""
	}
	// The field is a JSON path, whose keys the client chose ("data.G").
	if s := GoSpelling(text); s != "" {
		return "problem " + quote(p) + " shows Go's " + quote(s)
	}
	if len(fieldPrefixes) == 0 {
		return ""
	}
	for _, prefix := range fieldPrefixes {
		if strings.HasPrefix(field, prefix) {
			return ""
		}
	}
	return "problem " + quote(p) + " names a field outside " + strings.Join(fieldPrefixes, ", ")
}

var (
	// goQuoted matches a %q-quoted string: the client's own input, which
	// may spell anything.
	goQuoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	// goSpelling matches what Go and encoding/json write of their types:
	// qualified type names (recipients.Receiver, *x509.Certificate),
	// composite types (map[string]interface {}, []uint8, struct {...}),
	// reflect kinds, and encoding/json's "Go value" / "Go struct field".
	goSpelling = regexp.MustCompile(`\*?\b[a-z][a-z0-9]*\.[A-Z][A-Za-z0-9_]*\b|` +
		`map\[|\[\][a-z*]|interface ?\{|struct ?\{|\bGo (value|struct|type)\b|\bjson: |` +
		`\b(struct|slice|ptr|int8|int16|int32|int64|uint|uint8|uint16|uint32|uint64|uintptr|float32|float64|complex64|complex128|interface|chan|func)\b`)
)

// GoSpelling returns the first piece of Go's own spelling in msg, outside
// quoted input, or "".
func GoSpelling(msg string) string {
	return goSpelling.FindString(goQuoted.ReplaceAllString(msg, `""`))
}

func quote(s string) string {
	const max = 200
	if len(s) > max {
		s = s[:max] + "…"
	}
	return `"` + s + `"`
}

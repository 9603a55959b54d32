package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/pushgate/pushgate"
)

// Every JSON request body enters through readBody (directly, or through
// decodeJSON), which is where the checks that apply to all bodies live:
// the size limit, the read deadline and the refusal of NUL characters.

// readBody reads the whole (size-limited) body of a JSON request and
// refuses one whose strings hold a NUL character.
func readBody(c *gin.Context) ([]byte, error) {
	b, err := readAll(c.Request.Body, c.Request.ContentLength)
	if err != nil {
		return nil, bodyReadError(err)
	}
	if len(b) == 0 {
		return nil, pushgate.Invalid("request body is empty; a JSON object is required")
	}
	if err := checkText(b); err != nil {
		return nil, err
	}
	return b, nil
}

// readAll is io.ReadAll that starts with room for the declared length,
// which limitBody has held to the route's limit: a body is read with one
// allocation instead of a dozen.
func readAll(r io.Reader, declared int64) ([]byte, error) {
	size := int64(512)
	if declared >= size && declared < maxPrealloc {
		size = declared + 1 // room to see EOF without growing
	}
	b := make([]byte, 0, size)
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

// maxPrealloc bounds what readAll allocates on a client's word alone.
const maxPrealloc = 16 << 20

// bodyReadError names what went wrong while a body was read.
func bodyReadError(err error) error {
	var maxErr *http.MaxBytesError
	var pe *pushgate.Error
	var netErr net.Error
	switch {
	case errors.As(err, &maxErr):
		return tooLarge(maxErr.Limit)
	case errors.As(err, &pe): // the body deadline (deadlineBody)
		return err
	case errors.As(err, &netErr): // "read tcp 10.0.0.5:8080->…": this node's address is not the client's to see
		return &pushgate.Error{Code: pushgate.EINVALID, Message: "request body cannot be read", Fields: []string{"body: cannot be read"}, Err: err}
	default:
		return pushgate.Invalid("request body cannot be read", err.Error())
	}
}

// decodeJSON reads the request body into v and turns every way it can go
// wrong into a client error: a body over the limit is ETOOLARGE, anything
// that is not one JSON value of the right types is EINVALID naming the field.
// Unknown fields are ignored, as CORE's SDKs may send fields we do not use.
func decodeJSON(c *gin.Context, v any) error {
	b, err := readBody(c)
	if err != nil {
		return err
	}
	return decodeJSONBytes(b, v)
}

// decodeJSONBytes is decodeJSON for a body already read (and checked).
func decodeJSONBytes(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	err := dec.Decode(v)
	if err == nil {
		if _, extra := dec.Token(); extra != io.EOF {
			return pushgate.Invalid("request body must hold one JSON value", "body: must hold one JSON value and nothing after it")
		}
		return nil
	}
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return pushgate.Invalid("request body is empty; a JSON object is required", "body: is required")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return pushgate.Invalid("request body is not valid JSON", "body: unexpected end of JSON input")
	case errors.As(err, &syntaxErr):
		return pushgate.Invalid("request body is not valid JSON", "body: "+syntaxErr.Error())
	case errors.As(err, &typeErr):
		return pushgate.Invalid("request body has a field of the wrong type", typeProblem("body", typeErr))
	default:
		return &pushgate.Error{Code: pushgate.EINVALID, Message: "request body cannot be read", Fields: []string{"body: cannot be read"}, Err: err}
	}
}

// typeProblem describes a JSON type error in the API's words, as the
// contexts and buckets parsers do ("foreignId: expected string, got
// number"), never Go's ("json: cannot unmarshal string into Go value of type
// recipients.Receiver"). whole names the decoded value itself, for an
// error about all of it.
func typeProblem(whole string, e *json.UnmarshalTypeError) string {
	field := e.Field
	if field == "" {
		field = whole
	}
	return fmt.Sprintf("%s: expected %s, got %s", field, jsonTypeOf(e.Type), jsonValueType(e.Value))
}

// jsonTypeOf names the JSON type a Go type is decoded from.
func jsonTypeOf(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Map, reflect.Struct:
		return "object"
	case reflect.Pointer:
		return jsonTypeOf(t.Elem())
	default:
		return "another type"
	}
}

// jsonValueType names the JSON type of the value encoding/json found: it
// says "bool" for boolean, and "number 1.5" for a fraction or an overflow
// where an integer was wanted, which is worth showing as it is.
func jsonValueType(v string) string {
	if v == "bool" {
		return "boolean"
	}
	return v
}

// nulEscape is the only way a NUL character can be in valid JSON: a raw
// 0x00 byte is a syntax error inside and outside strings.
var nulEscape = []byte(`\u0000`)

// checkText refuses a JSON body that storage could not hold alike on
// every backend: strings or keys with a NUL character, which PostgreSQL
// can store in neither text nor jsonb, and bytes that are not UTF-8, which
// JSON forbids and which reach PostgreSQL verbatim through the raw vendor
// sections (SQLite takes both, so without this the backends would
// disagree). The common case costs one vectorised search and one UTF-8
// scan of the body; only a body with a problem is walked, to name the
// field.
func checkText(b []byte) error {
	if hasNULEscape(b) {
		if path, isKey, ok := badString(b, func(s string, _ int64) bool { return strings.IndexByte(s, 0) >= 0 }); ok {
			if isKey {
				return pushgate.Invalid(msgNUL, path+": holds a key with a NUL character (\\u0000)")
			}
			return pushgate.Invalid(msgNUL, path+": must not hold a NUL character (\\u0000)")
		}
		// Not valid JSON around it: decoding will say what is wrong.
	}
	if !utf8.Valid(b) {
		off := int64(firstInvalidUTF8(b))
		if path, isKey, ok := badString(b, func(_ string, end int64) bool { return end > off }); ok {
			if isKey {
				return pushgate.Invalid(msgNotUTF8, path+": holds a key that is not valid UTF-8")
			}
			return pushgate.Invalid(msgNotUTF8, path+": is not valid UTF-8")
		}
		return pushgate.Invalid(msgNotUTF8, fmt.Sprintf("body: byte %d is not valid UTF-8", off))
	}
	return nil
}

const msgNotUTF8 = "the request body is not valid UTF-8, which JSON requires"

func firstInvalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// hasNULEscape reports whether b holds \u0000 as an escape rather than as
// text after an escaped backslash (`\\u0000`): the escape's backslash must
// follow an even number of backslashes.
func hasNULEscape(b []byte) bool {
	for {
		i := bytes.Index(b, nulEscape)
		if i < 0 {
			return false
		}
		n := 0
		for j := i - 1; j >= 0 && b[j] == '\\'; j-- {
			n++
		}
		if n%2 == 0 {
			return true
		}
		b = b[i+len(nulEscape):]
	}
}

// badString walks the JSON document b and names the first string or key
// for which bad (given the decoded text and the offset just past it)
// holds: its path (for a key, the path of its object). ok is false if b is
// not valid JSON before such a string is found.
func badString(b []byte, bad func(s string, end int64) bool) (path string, isKey, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var stack []jsonLevel
	// next is called after each complete value: it advances its parent.
	next := func() {
		if n := len(stack); n > 0 {
			if stack[n-1].array {
				stack[n-1].index++
			} else {
				stack[n-1].wantKey = true
			}
		}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", false, false
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '[':
				stack = append(stack, jsonLevel{array: true})
			case '{':
				stack = append(stack, jsonLevel{wantKey: true})
			default:
				stack = stack[:len(stack)-1]
				next()
			}
		case string:
			n := len(stack)
			isKey := n > 0 && !stack[n-1].array && stack[n-1].wantKey
			switch {
			case isKey && bad(t, dec.InputOffset()):
				return jsonPath(stack[:n-1]), true, true
			case isKey:
				stack[n-1].key, stack[n-1].wantKey = t, false
			case bad(t, dec.InputOffset()):
				return jsonPath(stack), false, true
			default:
				next()
			}
		default:
			next()
		}
	}
}

// jsonLevel is an open array (with the index of its current element) or
// object (with the key of its current member) while a document is walked.
type jsonLevel struct {
	array   bool
	index   int
	key     string
	wantKey bool // the object's next string is a key
}

// jsonPath names a place in a document as the API's errors do:
// receivers[2].foreignId, callbackConfig.payload.headers["x-secret"].
func jsonPath(levels []jsonLevel) string {
	var sb strings.Builder
	for _, l := range levels {
		switch {
		case l.array:
			sb.WriteString("[" + strconv.Itoa(l.index) + "]")
		case isIdentifier(l.key):
			if sb.Len() > 0 {
				sb.WriteByte('.')
			}
			sb.WriteString(l.key)
		default:
			sb.WriteString("[" + strconv.Quote(shorten(l.key)) + "]")
		}
	}
	if sb.Len() == 0 {
		return "body"
	}
	return sb.String()
}

func isIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// shorten keeps an echoed key from making the error as long as the body.
func shorten(s string) string {
	if len(s) <= 64 {
		return s
	}
	i := 64
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

func tooLarge(limit int64) error {
	return pushgate.Errorf(pushgate.ETOOLARGE, "request body is larger than the limit of %d bytes", limit)
}

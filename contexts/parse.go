package contexts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pushgate/pushgate"
)

// Parse decodes the JSON body of CORE's "create context" request for kind
// and validates it against now (expiresAt must lie ahead of it). The
// context's ID, AppID and BucketID are left for the caller; CreatedAt is
// now, which the caller may replace with the time it stores.
//
// Problems come back as one *pushgate.Error with code EINVALID whose Fields
// name each by its JSON path ("actions[2].title: ..."). When a field has the
// wrong JSON type only those type errors are reported: checking the rest
// against zero values left by the bad fields would report problems that are
// not there. Keys match exactly as CORE's schema spells them (encoding/json
// would also take "TITLE" for "title"), and unknown keys are ignored because
// CORE's SDKs may send fields this version does not know. Image URLs are
// judged by a guard with an empty allow-list, the strictest; Options.Parse
// takes a node's own guard (and its ssrf_allow).
func Parse(kind Kind, body []byte, now time.Time) (*Context, error) {
	return Options{}.Parse(kind, body, now)
}

// Options tune Parse and ParseMetadata.
type Options struct {
	// Guard refuses image URLs whose host is a literal internal address
	// (an IP it refuses, localhost): the CDN would fetch them. Names are
	// judged when fetching. nil is a guard with an empty allow-list.
	Guard *pushgate.SSRFGuard
}

// Parse is the package's Parse with o's checks.
func (o Options) Parse(kind Kind, body []byte, now time.Time) (*Context, error) {
	return parse(kind, body, now, "", "body", o)
}

// ParseMetadata is the package's ParseMetadata with o's checks.
func (o Options) ParseMetadata(kind Kind, metadata json.RawMessage, now time.Time) (*Context, error) {
	trimmed := bytes.TrimSpace(metadata)
	if kind == KindSilent && (len(trimmed) == 0 || string(trimmed) == "null") {
		return &Context{Kind: KindSilent, Silent: &Silent{}, CreatedAt: now}, nil
	}
	if kind.Valid() && (len(trimmed) == 0 || string(trimmed) == "null") {
		return nil, pushgate.Invalid("invalid metadata", "metadata: is required")
	}
	return parse(kind, metadata, now, "metadata", "metadata", o)
}

// ParseMetadata decodes the "metadata" object of a transactional send
// (POST /v1/bucket/{id}/send[/silent|/raw]): a context of kind given inline
// and used once. It validates as Parse does, with every field path under
// "metadata.". Data and raw sends need it; for silent sends it may be absent,
// null or {}, and then yields an empty silent context.
func ParseMetadata(kind Kind, metadata json.RawMessage, now time.Time) (*Context, error) {
	return Options{}.ParseMetadata(kind, metadata, now)
}

// parse decodes body under prefix (the JSON path of the object, "" at the
// top of a request); root names the object itself in errors about its shape.
func parse(kind Kind, body []byte, now time.Time, prefix, root string, o Options) (*Context, error) {
	message := "invalid " + string(kind) + " context"
	if prefix != "" {
		message = "invalid " + prefix
	}
	if !kind.Valid() {
		return nil, pushgate.Invalid("unknown context kind", fmt.Sprintf("kind: must be data, raw or silent, not %q", kind))
	}
	if !json.Valid(body) {
		return nil, pushgate.Invalid(message, root+": is not valid JSON: "+syntaxError(body))
	}
	if !utf8.Valid(body) {
		// Vendor sections are kept byte for byte, and PostgreSQL cannot
		// store text that is not UTF-8; JSON must be UTF-8 anyway.
		return nil, pushgate.Invalid(message, root+": must be UTF-8 text")
	}
	if got := jsonType(body); got != "object" {
		return nil, pushgate.Invalid(message, root+": must be a JSON object, got "+got)
	}

	c := &Context{Kind: kind, CreatedAt: now}
	var target any
	switch kind {
	case KindData:
		c.Data = &Data{}
		target = c.Data
	case KindRaw:
		c.Raw = &Raw{}
		target = c.Raw
	case KindSilent:
		c.Silent = &Silent{}
		target = c.Silent
	}
	d := &decoder{}
	d.value(prefix, body, reflect.ValueOf(target).Elem())
	if len(d.errs) > 0 {
		return nil, pushgate.Invalid(message, d.errs...)
	}
	if errs := c.problems(now, prefix, root, o.Guard); len(errs) > 0 {
		return nil, pushgate.Invalid(message, errs...)
	}
	return c, nil
}

// decoder fills the context types from JSON, driven by their json tags, so
// that a value of the wrong JSON type becomes an error at its exact path
// (encoding/json reports only the first, and without array indices). Each
// call gets syntactically valid JSON: the whole body was checked first.
type decoder struct {
	errs []string
}

func (d *decoder) typeError(path, want string, raw []byte) {
	d.errs = append(d.errs, fmt.Sprintf("%s: expected %s, got %s", path, want, jsonType(raw)))
}

// value decodes raw into v. JSON null leaves v as it is, as encoding/json
// does: CORE's clients send null for "not set".
func (d *decoder) value(path string, raw []byte, v reflect.Value) {
	got := jsonType(raw)
	if got == "null" {
		return
	}
	switch t := v.Type(); {
	case t == reflect.TypeFor[json.RawMessage]():
		// Kept byte for byte: these are vendor payloads sent as given.
		v.SetBytes(bytes.Clone(bytes.TrimSpace(raw)))
	case t == reflect.TypeFor[StringOrMap]():
		d.stringOrMap(path, raw, v.Addr().Interface().(*StringOrMap))
	case t.Kind() == reflect.Pointer:
		elem := reflect.New(t.Elem())
		d.value(path, raw, elem.Elem())
		v.Set(elem)
	case t.Kind() == reflect.String:
		if got != "string" {
			d.typeError(path, "string", raw)
			return
		}
		var s string
		_ = json.Unmarshal(raw, &s) // cannot fail: a valid JSON string
		v.SetString(s)
	case t.Kind() == reflect.Float64:
		if got != "number" {
			d.typeError(path, "number", raw)
			return
		}
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil {
			d.errs = append(d.errs, path+": number is out of range")
			return
		}
		v.SetFloat(f)
	case t.Kind() == reflect.Bool:
		if got != "boolean" {
			d.typeError(path, "boolean", raw)
			return
		}
		v.SetBool(raw[0] == 't')
	case t.Kind() == reflect.Slice:
		if got != "array" {
			d.typeError(path, "array", raw)
			return
		}
		var items []json.RawMessage
		_ = json.Unmarshal(raw, &items)
		s := reflect.MakeSlice(t, len(items), len(items))
		for i, item := range items {
			d.value(fmt.Sprintf("%s[%d]", path, i), item, s.Index(i))
		}
		v.Set(s)
	case t.Kind() == reflect.Struct:
		if got != "object" {
			d.typeError(path, "object", raw)
			return
		}
		var fields map[string]json.RawMessage
		_ = json.Unmarshal(raw, &fields)
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			if fv, ok := fields[name]; ok {
				d.value(join(path, name), fv, v.Field(i))
			}
		}
	default:
		// Only reachable if a field of a type this decoder does not know is
		// added to the context types (TestTestdataCoversEveryField makes the
		// full bodies in testdata reach every field): refusing the body
		// beats dropping the field silently.
		d.errs = append(d.errs, path+": cannot be decoded")
	}
}

func (d *decoder) stringOrMap(path string, raw []byte, s *StringOrMap) {
	switch jsonType(raw) {
	case "string":
		_ = json.Unmarshal(raw, &s.String)
	case "object":
		var fields map[string]json.RawMessage
		_ = json.Unmarshal(raw, &fields)
		s.Map = make(map[string]string, len(fields))
		for _, k := range slices.Sorted(maps.Keys(fields)) {
			if jsonType(fields[k]) != "string" {
				d.typeError(key(path, k), "string", fields[k])
				continue
			}
			var v string
			_ = json.Unmarshal(fields[k], &v)
			s.Map[k] = v
		}
	default:
		d.errs = append(d.errs, path+": must be a string or an object of strings")
	}
}

// syntaxError describes why body is not JSON, with the byte offset so a
// client can find the spot.
func syntaxError(body []byte) string {
	var v any
	err := json.Unmarshal(body, &v)
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("%s (at byte %d)", se.Error(), se.Offset)
	case err != nil:
		return err.Error()
	}
	return "malformed"
}

// jsonType names the JSON type of a valid JSON value, as error messages
// say it.
func jsonType(raw []byte) string {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	default:
		return "number"
	}
}

// join appends a field name to a JSON path.
func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// key appends a map key to a JSON path, quoting keys that would make the
// path ambiguous ("data[\"a.b\"]").
func key(path, k string) string {
	if k != "" && strings.IndexFunc(k, func(r rune) bool {
		return !(r == '_' || r == '-' || '0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z')
	}) < 0 {
		return join(path, k)
	}
	return path + "[" + strconv.Quote(k) + "]"
}

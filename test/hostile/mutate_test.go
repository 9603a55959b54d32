package hostile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// A mutation is a valid request body with one value spoiled.
type mutation struct {
	kind string // "nul", "utf8" or "type"
	path string // JSON path of the value, e.g. receivers[0].foreignId
	body []byte
}

// badUTF8 stands for invalid UTF-8 until the body is marshalled: JSON
// encoders replace invalid bytes, so they are put in afterwards.
const (
	badUTF8Mark  = "@@bad-utf8@@"
	badUTF8Bytes = "\xff\xfe\xc3\x28"
)

// mutations spoils every value of the JSON document base in turn: each
// string gets a NUL character and, separately, invalid UTF-8; every value
// is replaced by one of another JSON type.
func mutations(base []byte) []mutation {
	var doc any
	dec := json.NewDecoder(bytes.NewReader(base))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		panic(fmt.Sprintf("mutations of an invalid base %s: %v", base, err))
	}
	var out []mutation
	var walk func(path []any, v any)
	walk = func(path []any, v any) {
		name := pathName(path)
		set := func(kind string, nv any) {
			b := marshal(replaceAt(clone(doc), path, nv))
			b = bytes.ReplaceAll(b, []byte(badUTF8Mark), []byte(badUTF8Bytes))
			out = append(out, mutation{kind: kind, path: name, body: b})
		}
		switch x := v.(type) {
		case string:
			set("nul", x+"\x00")
			set("utf8", x+badUTF8Mark)
			set("type", json.Number("12345"))
		case json.Number:
			set("type", "twelve")
		case bool:
			set("type", "true")
		case map[string]any:
			if len(path) > 0 {
				set("type", []any{"x"})
			}
			for k, e := range x {
				walk(append(path[:len(path):len(path)], k), e)
			}
		case []any:
			set("type", map[string]any{"x": json.Number("1")})
			for i, e := range x {
				walk(append(path[:len(path):len(path)], i), e)
			}
		}
	}
	walk(nil, doc)
	return out
}

func pathName(path []any) string {
	var b strings.Builder
	for _, p := range path {
		switch x := p.(type) {
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(x)
		case int:
			b.WriteString("[" + strconv.Itoa(x) + "]")
		}
	}
	if b.Len() == 0 {
		return "body"
	}
	return b.String()
}

func clone(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = clone(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = clone(e)
		}
		return s
	}
	return v
}

// replaceAt sets the value at path in doc (a clone) and returns doc.
func replaceAt(doc any, path []any, v any) any {
	if len(path) == 0 {
		return v
	}
	switch x := doc.(type) {
	case map[string]any:
		k := path[0].(string)
		x[k] = replaceAt(x[k], path[1:], v)
	case []any:
		i := path[0].(int)
		x[i] = replaceAt(x[i], path[1:], v)
	}
	return doc
}

func marshal(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err)
	}
	return bytes.TrimSpace(buf.Bytes())
}

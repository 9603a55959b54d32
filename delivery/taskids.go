package delivery

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// idList is a task's message ids. Decoding a task's 500 ids with
// encoding/json cost an allocation an id and a slice grown by reflection
// about ten times; the array json.Marshal writes (plain strings, no
// escapes) is read here into one string that the ids are cut from. Any
// other JSON goes to encoding/json, so both read the same values.
type idList []string

func (l *idList) UnmarshalJSON(data []byte) error {
	if ids, ok := plainStrings(data); ok {
		*l = ids
		return nil
	}
	return json.Unmarshal(data, (*[]string)(l))
}

// plainStrings reads a compact JSON array of strings that hold no escape
// and no control character; ok is false for anything else.
func plainStrings(data []byte) (ids []string, ok bool) {
	if len(data) < 2 || data[0] != '[' || data[len(data)-1] != ']' ||
		bytes.IndexByte(data, '\\') >= 0 || !utf8.Valid(data) {
		return nil, false
	}
	quotes := bytes.Count(data, []byte{'"'})
	if quotes%2 != 0 {
		return nil, false
	}
	rest := string(data[1 : len(data)-1]) // the one allocation for every id
	ids = make([]string, 0, quotes/2)
	for len(rest) > 0 {
		if rest[0] != '"' {
			return nil, false
		}
		end := strings.IndexByte(rest[1:], '"') + 1 // there is one: quotes are paired
		id := rest[1:end]
		for i := 0; i < len(id); i++ {
			if id[i] < 0x20 {
				return nil, false
			}
		}
		ids = append(ids, id)
		rest = rest[end+1:]
		if len(rest) == 0 {
			break
		}
		if rest[0] != ',' || len(rest) == 1 {
			return nil, false
		}
		rest = rest[1:]
	}
	return ids, true
}

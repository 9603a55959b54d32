package providers

import (
	"bytes"
	"encoding/json"
)

// MarshalUnescaped is json.Marshal without HTML escaping: payloads go to
// apps and service workers, not pages, and "<" as \u003c only spends bytes
// of a provider's size limit. The result has no trailing newline and no
// spare capacity.
func MarshalUnescaped(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	return b[:len(b):len(b)], nil
}

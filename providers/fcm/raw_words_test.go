package fcm

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/pushgate/pushgate/contexts"
)

// A raw android section FCM would refuse is refused naming the field and
// the JSON it takes; encoding/json's own words named Go types
// ("Go struct field rawAndroid.data of type string").
func TestRawAndroidProblemsSpeakJSON(t *testing.T) {
	const prefix = "must be an object with notification, data (string values) and android as FCM v1 defines them: "
	for section, want := range map[string]string{
		`{"data":{"n":1}}`:               "data: expected a string, got number",
		`{"priority":"high"}`:            `unknown field "priority"`,
		`{"android":{"priority":5}}`:     "android.priority: expected a string, got number",
		`{"notification":"x"}`:           "notification: expected an object, got string",
		`{"android":{"ttl":[]}}`:         "android.ttl: expected a string, got array",
		`{"data":{"a":"b"},"x":{"y":1}}`: `unknown field "x"`,
		`{"android":{"ttl":"s"}}`:        `a value is not in the form FCM v1 defines (durations such as "3.5s", colors as "#rrggbb", times in RFC 3339)`,
	} {
		c := &contexts.Context{ID: "ctx", Kind: contexts.KindRaw, Raw: &contexts.Raw{Android: json.RawMessage(section)}}
		_, err := build(c, identity{messageID: "m", contextID: "ctx"}, "tok", time.Hour)
		if err == nil || err.Error() != prefix+want {
			t.Errorf("%s: %v, want %q", section, err, strings.TrimPrefix(prefix+want, prefix))
		}
	}
}

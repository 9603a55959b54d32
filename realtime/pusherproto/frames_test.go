package pusherproto

import (
	"encoding/json"
	"net/url"
	"testing"
)

func TestAppendStringEncodesAsJSONMarshal(t *testing.T) {
	for _, s := range []string{
		"", "pusher:subscribe", "private-room-1", "presence-a=b@c,d.e;f", "123456789.987654321",
		`quote"`, `back\slash`, "<script>", "a&b", "tab\tnew\nline", "\x00\x1f\x7f",
		"é", "日本", "\u2028\u2029", "\xff\xfe", "cache-x_y-z",
	} {
		want, _ := json.Marshal(s)
		if got := appendString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Errorf("%q: %s, want %s", s, got[1:], want)
		}
	}
}

func TestEstablishedDataEncodesAsStringData(t *testing.T) {
	for _, id := range []string{newSocketID(), "0.0", "999999999.999999999"} {
		for _, timeout := range []int{0, 120, 86400} {
			want := stringData(struct {
				SocketID        string `json:"socket_id"`
				ActivityTimeout int    `json:"activity_timeout"`
			}{id, timeout})
			if got := establishedData(id, timeout); string(got) != string(want) {
				t.Errorf("%s, want %s", got, want)
			}
		}
	}
}

func BenchmarkEstablishedFrame(b *testing.B) {
	b.ReportAllocs()
	for range b.N {
		eventFrame("pusher:connection_established", "", establishedData("123456789.987654321", 120), "")
	}
}

func BenchmarkSucceededFrame(b *testing.B) {
	b.ReportAllocs()
	for range b.N {
		eventFrame("pusher_internal:subscription_succeeded", "load-0", json.RawMessage(`"{}"`), "")
	}
}

func TestQueryGetIsParseQueryGet(t *testing.T) {
	for _, raw := range []string{
		"", "protocol=7", "client=js&version=8.4.0&protocol=7&flash=false", "protocol=7&protocol=8",
		"protocol", "protocol=", "protocol=%37", "prot%6Fcol=7", "protocol=7;x=1&protocol=6", "protocol=%zz&protocol=7",
		"%zz=1&protocol=7", "protocol=a+b", "&&protocol=7&", "=7&protocol=", "Protocol=7", "protocol=7=8",
	} {
		q, _ := url.ParseQuery(raw)
		if got, want := queryGet(raw, "protocol"), q.Get("protocol"); got != want {
			t.Errorf("%q: %q, url.ParseQuery %q", raw, got, want)
		}
	}
}

func TestSocketIDsDiffer(t *testing.T) {
	seen := map[string]bool{}
	for range 3000 { // several refills of the buffer
		id := newSocketID()
		if seen[id] {
			t.Fatalf("%s handed out twice", id)
		}
		seen[id] = true
	}
}

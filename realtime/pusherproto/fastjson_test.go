package pusherproto

import (
	"encoding/json"
	"reflect"
	"testing"
)

var frameCorpus = []string{
	`{"event":"pusher:subscribe","data":{"auth":"","channel":"load-0"}}`,
	`{"event":"pusher:subscribe","data":{"channel":"private-a","auth":"key:0123abcdef"}}`,
	`{"event":"pusher:ping","data":{}}`,
	` { "event" : "pusher:ping" , "data" : { } } ` + "\n",
	`{"event":"client-x","channel":"private-a","data":"text"}`,
	`{"event":"client-x","channel":"private-a","data":{"a":"b","c":"d"}}`,
	`{"data":{"channel":"x"},"event":"pusher:unsubscribe"}`,
	`{}`, `{"event":""}`, `null`, `[]`, `""`, `{`, `}`, `{"event"}`, `{"event":}`, `{"event":"a",}`,
	`{"event":"a"}x`, `{"event":"a"}{}`, `{"event":"a","event":"b"}`, `{"Event":"pusher:ping"}`,
	`{"EVENT":"a","event":"b"}`, `{"event":"a\"b"}`, `{"event":"a\u0062"}`, `{"event":"é"}`,
	`{"event":"a","data":{"x":1}}`, `{"event":"a","data":{"x":{"y":"z"}}}`, `{"event":"a","data":["x"]}`,
	`{"event":"a","data":null}`, `{"event":"a","data":{"x":"1","x":"2"}}`, `{"event":5}`,
	`{"event":"a","extra":"b"}`, `{"event":"a","data":{"channel":"x"}}` + "\t",
	"{\"event\":\"a\x00\"}", `{"event":"a","data":{"channel":"x",}}`, `{"event":"a","data":{,}}`,
}

var subscribeCorpus = []string{
	`{"auth":"","channel":"load-0"}`, `{"channel":"private-a","auth":"key:abc"}`,
	`{"channel":"presence-a","auth":"k:s","channel_data":"{\"user_id\":\"1\"}"}`,
	`{"channel":"a","channel_data":"plain"}`, ` {"channel" : "a"} `, `{}`, `null`, `"x"`, `{"channel":5}`,
	`{"Channel":"a"}`, `{"channel":"a","channel":"b"}`, `{"channel":"a","other":"b"}`, `{"channel":"a"}}`,
	`{"channel":"a\\b"}`, `{"channel":"日本"}`, `{"channel":"a","auth":null}`,
}

// Whatever the plain readers accept, encoding/json decodes the same way.
func checkFrame(t *testing.T, in string) {
	f, ok := parseFrame([]byte(in))
	if !ok {
		return
	}
	var want inFrame
	if err := json.Unmarshal([]byte(in), &want); err != nil {
		t.Fatalf("%q: read, but encoding/json says %v", in, err)
	}
	if !reflect.DeepEqual(f, want) {
		t.Fatalf("%q: %+v, encoding/json %+v", in, f, want)
	}
}

func checkSubscribe(t *testing.T, in string) {
	d, ok := parseSubscribe([]byte(in))
	if !ok {
		return
	}
	var want subscribeData
	if err := json.Unmarshal([]byte(in), &want); err != nil {
		t.Fatalf("%q: read, but encoding/json says %v", in, err)
	}
	if d != want {
		t.Fatalf("%q: %+v, encoding/json %+v", in, d, want)
	}
}

func TestPlainReadersAgreeWithEncodingJSON(t *testing.T) {
	for _, in := range frameCorpus {
		checkFrame(t, in)
	}
	for _, in := range subscribeCorpus {
		checkSubscribe(t, in)
	}
	// The common frames take the plain path.
	for _, in := range frameCorpus[:7] {
		if _, ok := parseFrame([]byte(in)); !ok {
			t.Errorf("%q: not read", in)
		}
	}
	for _, in := range subscribeCorpus[:2] {
		if _, ok := parseSubscribe([]byte(in)); !ok {
			t.Errorf("%q: not read", in)
		}
	}
}

func FuzzParseFrame(f *testing.F) {
	for _, in := range frameCorpus {
		f.Add(in)
	}
	f.Fuzz(checkFrame)
}

func FuzzParseSubscribe(f *testing.F) {
	for _, in := range subscribeCorpus {
		f.Add(in)
	}
	f.Fuzz(checkSubscribe)
}

func BenchmarkSubscribeFrame(b *testing.B) {
	in := []byte(`{"event":"pusher:subscribe","data":{"auth":"","channel":"load-0"}}`)
	b.ReportAllocs()
	for range b.N {
		f, _ := parseFrame(in)
		parseSubscribe(f.Data)
	}
}

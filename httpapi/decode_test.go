package httpapi

import (
	"errors"
	"slices"
	"testing"

	"github.com/pushgate/pushgate"
)

// Every refusal of a body names the body or the field at fault, in JSON's
// words: a client knows objects and arrays, not Go's structs and slices,
// and has no use for a Go type name such as recipients.Receiver.
func TestDecodeProblemsNameTheFieldInJSONWords(t *testing.T) {
	var event clientEventBody
	var send struct {
		Receivers []struct {
			Token string `json:"token"`
		} `json:"receivers"`
		TTL   int     `json:"ttl"`
		Score float64 `json:"score"`
		On    bool    `json:"on"`
	}
	for _, tc := range []struct {
		body string
		v    any
		want string
	}{
		{``, &event, "body: is required"},
		{`{} {}`, &event, "body: must hold one JSON value and nothing after it"},
		{`{"messageId":`, &event, "body: unexpected end of JSON input"},
		{`{"messageId":x}`, &event, "body: invalid character 'x' looking for beginning of value"},
		{`[]`, &event, "body: expected object, got array"},
		{`{"messageId":5}`, &event, "messageId: expected string, got number"},
		{`{"receivers":{}}`, &send, "receivers: expected array, got object"},
		{`{"receivers":[{"token":[]}]}`, &send, "receivers.token: expected string, got array"},
		{`{"ttl":1.5}`, &send, "ttl: expected integer, got number 1.5"},
		{`{"score":"1"}`, &send, "score: expected number, got string"},
		{`{"on":"yes"}`, &send, "on: expected boolean, got string"},
	} {
		err := decodeJSONBytes([]byte(tc.body), tc.v)
		var e *pushgate.Error
		if !errors.As(err, &e) || e.Code != pushgate.EINVALID || !slices.Equal(e.Fields, []string{tc.want}) {
			t.Errorf("%s: %v, want the problem %q", tc.body, err, tc.want)
		}
	}
}

func TestDecodeReceiversNamesEachReceiversProblem(t *testing.T) {
	body := `{"receivers":[{"credentialId":"c","token":"t"}, 5, "x", [], {"credentialId":7}, {"token":{}}]}`
	receivers, errs, err := decodeReceivers([]byte(body))
	if err != nil || len(receivers) != 6 {
		t.Fatalf("decodeReceivers: %d receivers, %v", len(receivers), err)
	}
	want := [][]string{
		nil,
		{"receiver: expected object, got number"},
		{"receiver: expected object, got string"},
		{"receiver: expected object, got array"},
		{"credentialId: expected string, got number"},
		{"token: expected string, got object"},
	}
	for i := range want {
		if !slices.Equal(errs[i], want[i]) {
			t.Errorf("receiver %d: problems %q, want %q", i, errs[i], want[i])
		}
	}
}

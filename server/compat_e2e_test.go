package server

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"

	"github.com/pushgate/pushgate/internal/testenv"
)

// TestCompatPushReachesTheUsersWebSocket: notification-server's push is
// one more message of the user, whose /v1/ws sessions hear it as a push
// frame; another user's push does not reach them, and nothing is stored.
func TestCompatPushReachesTheUsersWebSocket(t *testing.T) {
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			srv, a := startNode(t, nodeConfig(t, d.URL))
			_, alice := a.token("alice")
			phone, _, err := dialWS(t, srv, "", http.Header{"Sec-WebSocket-Protocol": {"pushgate.v1, token." + alice}})
			if err != nil {
				t.Fatal(err)
			}
			phone.next("hello")
			if code := a.call("POST", "/api/bob/push", `{"message":"for bob"}`, nil); code != 200 {
				t.Fatalf("push to bob: %d", code)
			}
			if code := a.call("POST", "/api/alice/push", `{"message":{"title":"t","n":[1]}}`, nil); code != 200 {
				t.Fatalf("push to alice: %d", code)
			}
			f := phone.next("push")
			if want := map[string]any{"title": "t", "n": []any{1.0}}; !reflect.DeepEqual(f["message"], want) {
				t.Fatalf("push frame %v", f)
			}
			var inbox struct{ Items []any }
			req, _ := http.NewRequest("GET", a.base+"/v1/inbox", nil)
			req.Header.Set("Authorization", "Bearer "+alice)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if err := jsonDecode(res, &inbox); err != nil || len(inbox.Items) != 0 {
				t.Fatalf("the inbox holds %v (%v): a push is not stored", inbox.Items, err)
			}
		})
	}
}

func jsonDecode(res *http.Response, v any) error { return json.NewDecoder(res.Body).Decode(v) }

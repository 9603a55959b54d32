package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/messages"
)

// TestCoreSendReachesTheInbox: a bucket with a websocket credential and a
// callback; one CORE bulk send to several users. A connected user's
// session receives the notification at once; every message is sent once
// stored; the device acknowledging and then reading it sends the bucket's
// callback delivered and clicked for that message, after its sent.
func TestCoreSendReachesTheInbox(t *testing.T) {
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			f := newFakes(t)
			consumer := &callbackConsumer{}
			hook := httptest.NewServer(consumer)
			defer hook.Close()
			cfg := f.config(t, d.URL)
			cfg.WebhookFlushInterval = 200 * time.Millisecond
			srv, a := startNode(t, cfg)

			var bucket struct {
				BucketID    string
				Credentials []struct{ ID, Type string }
			}
			body := fmt.Sprintf(`{"providerCredentials":[{"type":"websocket","payload":{}}],"callbackConfig":{"type":"http","payload":{"url":%q}}}`, hook.URL)
			if code := a.call("POST", "/v1/bucket", body, &bucket); code != 200 || len(bucket.Credentials) != 1 || bucket.Credentials[0].Type != "websocket" {
				t.Fatalf("bucket: %d %+v", code, bucket)
			}
			var bad struct{ Errors []string }
			if code := a.call("POST", "/v1/bucket", `{"providerCredentials":[{"type":"websocket","payload":{"url":"x"}}],"callbackConfig":{"type":"none"}}`, &bad); code != 400 ||
				len(bad.Errors) != 1 || bad.Errors[0] != "providerCredentials[0].payload.url: is not a websocket credential setting (its payload is {})" {
				t.Fatalf("a websocket payload with a member: %d %q", code, bad.Errors)
			}
			var c struct{ ContextID string }
			a.call("POST", "/v1/bucket/"+bucket.BucketID+"/context/data",
				`{"title":"Order shipped","body":"It is on its way","behaviour":"https://shop.example/orders/7","externalData":"order-7"}`, &c)

			_, alice := a.token("alice")
			phone, _, err := dialWS(t, srv, "?token="+alice, nil)
			if err != nil {
				t.Fatal(err)
			}
			phone.next("hello")

			cred := bucket.Credentials[0].ID
			receivers := []map[string]string{
				{"credentialId": cred, "userId": "alice", "foreignId": "crm-alice"},
				{"credentialId": cred, "userId": "bob", "foreignId": "crm-bob"},
				{"credentialId": cred, "userId": "carol"},
				{"credentialId": cred, "userId": "alice", "foreignId": "again"},
				{"credentialId": cred, "token": "dave"},
			}
			var sent struct{ Results []messages.SendResult }
			if code := a.call("POST", "/v1/bucket/"+bucket.BucketID+"/context/"+c.ContextID+"/send", map[string]any{"receivers": receivers}, &sent); code != 200 || len(sent.Results) != 5 {
				t.Fatalf("send: %d %+v", code, sent)
			}
			for i, r := range sent.Results {
				if (i < 3) != (r.MessageID != "") {
					t.Fatalf("receiver %d: %+v", i, r)
				}
			}
			if e := sent.Results[3].Errors; len(e) != 1 || e[0] != "receiver: the same device as receivers[0]" {
				t.Errorf("the same user twice: %q", e)
			}
			if e := sent.Results[4].Errors; len(e) == 0 || e[0] != "token: a websocket receiver has a userId, not a token or a subscription" {
				t.Errorf("a token for a websocket receiver: %q", e)
			}
			msgID := sent.Results[0].MessageID

			n := phone.next("notification", "unseen")
			if n["id"] != msgID || n["title"] != "Order shipped" || n["message"] != "It is on its way" || n["clickUrl"] != "https://shop.example/orders/7" || n["priority"] != 5.0 {
				t.Fatalf("notification frame %v", n)
			}
			if x, _ := n["extras"].(map[string]any); x["contextId"] != c.ContextID || x["foreignId"] != "crm-alice" || x["externalData"] != "order-7" {
				t.Fatalf("notification extras %v", n["extras"])
			}
			// The device acknowledges and reads at once, as a real one does:
			// possibly before the worker has stored the message's result.
			phone.send(`{"type":"ack","ids":["` + msgID + `"]}`)
			phone.send(`{"type":"read","ids":["` + msgID + `"]}`)
			// Counts of 1 (the notification, the ack) come before the read's 0.
			for u := phone.next("unseen", "notification"); u["count"] != 0.0; u = phone.next("unseen", "notification") {
				if u["count"] != 1.0 {
					t.Fatalf("unseen %v", u)
				}
			}

			for _, m := range waitFinal(t, srv, bucket.BucketID, sent.Results[:3], 30*time.Second) {
				if m.Status != messages.Sent {
					t.Fatalf("message %s: %s (%s %s)", m.ID, m.Status, m.Reason, m.LastError)
				}
			}

			// Bob reads his over the inbox REST routes, no device having
			// acknowledged it: delivered and clicked. Carol reads all of
			// hers at once: a read-all names no notification, and reports
			// nothing.
			_, bob := a.token("bob")
			_, carol := a.token("carol")
			clientPost(t, srv, bob, "/v1/inbox/"+sent.Results[1].MessageID+"/read", 200)
			clientPost(t, srv, carol, "/v1/inbox/read-all", 200)

			want := map[string]bool{"crm-alice sent": true, "crm-bob sent": true, " sent": true, "crm-alice delivered": true, "crm-alice clicked": true,
				"crm-bob delivered": true, "crm-bob clicked": true}
			var got map[string]bool
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("events at the callback: %v", got)
				}
			})
			waitFor(t, 30*time.Second, "sent, delivered and clicked at the callback", func() bool {
				got = map[string]bool{}
				for _, r := range consumer.received() {
					var cb coreCallback
					if err := json.Unmarshal(r.body, &cb); err != nil {
						t.Fatalf("callback body %s: %v", r.body, err)
					}
					for _, m := range cb.Messages {
						key := m.ForeignID + " " + m.Result.Kind
						if got[key] {
							t.Fatalf("%s twice", key)
						}
						if (m.ForeignID == "crm-alice") != (m.MessageID == msgID) || (m.ForeignID == "crm-bob") != (m.MessageID == sent.Results[1].MessageID) {
							t.Fatalf("event %+v names another message", m)
						}
						got[key] = true
					}
				}
				return len(got) >= len(want)
			})
			for k := range want {
				if !got[k] {
					t.Errorf("no %q event; got %v", k, got)
				}
			}
			if len(got) != len(want) {
				t.Errorf("events %v, want %v", got, want)
			}
			m, err := srv.DB.Messages().Get(t.Context(), a.appID(srv), bucket.BucketID, msgID)
			if err != nil || m.DeliveredAt.IsZero() || m.ClickedAt.IsZero() {
				t.Errorf("message after ack and read: %+v, %v", m, err)
			}
		})
	}
}

func (a *api) appID(srv *Server) string {
	creds, _ := srv.FirstApp()
	return creds.AppID
}

// clientPost posts to a client-token route and checks the status.
func clientPost(t *testing.T, srv *Server, token, path string, status int) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+srv.Addr()+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != status {
		t.Fatalf("POST %s: %d %s, want %d", path, res.StatusCode, body, status)
	}
}

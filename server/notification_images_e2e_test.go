package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pushgate/pushgate/internal/testenv"
)

// clientJSON calls a REST route with a client token, sends body as JSON
// (when not nil) and decodes the answer into out.
func clientJSON(t *testing.T, srv *Server, token, method, path string, body, out any) int {
	t.Helper()
	var r io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		r = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, "http://"+srv.Addr()+path, r)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, raw)
		}
	}
	return res.StatusCode
}

// sentNotification is the answer of POST /v1/notifications.
type sentNotification struct {
	ID         string
	Recipients int
	ImageError string
}

// TestNotificationImagesThroughTheCDN: a notification's imageUrl reaches
// the WebSocket frame, the SSE event, the user's inbox and the app's list
// as the node's CDN URL of the large variant, which serves the processed
// image; the same for a client token's own notification, for
// server.Notify and for a CORE context's image sent to a websocket
// receiver. An internal address is
// refused with a 400 naming imageUrl; a 404 source or a redirect to a
// forbidden address is delivered without an image, and the answer says
// why.
func TestNotificationImagesThroughTheCDN(t *testing.T) {
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			f := newFakes(t)
			cfg := f.config(t, d.URL)
			cfg.SSRFAllow = "127.0.0.1/32" // the image origin, and nothing else on loopback
			// However slow the machine, the images are made: the wait is tested
			// in inbox.
			cfg.NotificationImageWait = 5 * time.Minute
			srv, a := startNode(t, cfg)
			_, alice := a.token("alice")
			phone, _, err := dialWS(t, srv, "?token="+alice, nil)
			if err != nil {
				t.Fatal(err)
			}
			phone.next("hello")
			browser, _ := openSSE(t, srv, "?token="+alice, nil)
			browser.next("hello")

			var sent sentNotification
			body := map[string]any{"title": "Sale", "imageUrl": f.images.URL + "/sale.jpg", "to": map[string]any{"userIds": []string{"alice"}}}
			if code := a.call("POST", "/v1/notifications", body, &sent); code != 201 || sent.ImageError != "" {
				t.Fatalf("send: %d %+v", code, sent)
			}
			frame := phone.next("notification", "unseen")
			image, _ := frame["imageUrl"].(string)
			cdnImage(t, a, image, "large")
			if ev := browser.next("notification", "unseen"); ev.data["imageUrl"] != image {
				t.Errorf("SSE notification image %v, WebSocket %s", ev.data["imageUrl"], image)
			}
			var items struct {
				Items []struct{ ID, ImageURL string }
			}
			if code := clientJSON(t, srv, alice, "GET", "/v1/inbox", nil, &items); code != 200 || len(items.Items) != 1 || items.Items[0].ImageURL != image {
				t.Errorf("GET /v1/inbox: %d %+v, want image %s", code, items, image)
			}
			var one struct{ ImageURL string }
			if a.call("GET", "/v1/notifications/"+sent.ID, nil, &one); one.ImageURL != image {
				t.Errorf("GET /v1/notifications/{id} image %q, want %s", one.ImageURL, image)
			}
			var list struct{ Notifications []struct{ ImageURL string } }
			if a.call("GET", "/v1/notifications", nil, &list); len(list.Notifications) != 1 || list.Notifications[0].ImageURL != image {
				t.Errorf("GET /v1/notifications: %+v, want image %s", list, image)
			}

			// A client token's notification to its own user, the same way.
			own := map[string]any{"title": "Note to self", "imageUrl": f.images.URL + "/note.png"}
			if code := clientJSON(t, srv, alice, "POST", "/v1/notifications", own, &sent); code != 201 || sent.ImageError != "" {
				t.Fatalf("send with the client token: %d %+v", code, sent)
			}
			frame = phone.next("notification", "unseen")
			cdnImage(t, a, frame["imageUrl"].(string), "large")

			// And server.Notify, from an application embedding the node.
			id, _, err := srv.Notify(t.Context(), a.appID(srv), []string{"alice"}, Notification{Title: "From the app", ImageURL: f.images.URL + "/app.png"})
			if err != nil {
				t.Fatal(err)
			}
			if frame = phone.next("notification", "unseen"); frame["id"] != id {
				t.Fatalf("got %v, want notification %s", frame, id)
			}
			cdnImage(t, a, frame["imageUrl"].(string), "large")
			if _, _, err := srv.Notify(t.Context(), a.appID(srv), []string{"alice"}, Notification{Title: "t", ImageURL: "http://10.0.0.7/x.png"}); err == nil ||
				!strings.Contains(err.Error(), "imageUrl: 10.0.0.7 is a forbidden address") {
				t.Fatalf("Notify with a private image: %v", err)
			}

			var e apiError
			body["imageUrl"] = "http://169.254.169.254/latest/meta-data/x.png"
			if code := a.call("POST", "/v1/notifications", body, &e); code != 400 || !e.has("imageUrl", "169.254.169.254 is a forbidden address") {
				t.Fatalf("image at the metadata service: %d %+v", code, e)
			}
			body["imageUrl"] = "http://127.0.0.9/x.png"
			if code := clientJSON(t, srv, alice, "POST", "/v1/notifications", body, &e); code != 400 || !e.has("imageUrl", "127.0.0.9 is a forbidden address (loopback)") {
				t.Fatalf("image on loopback, with the client token: %d %+v", code, e)
			}

			inward := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, strings.Replace(f.images.URL, "127.0.0.1", "127.0.0.9", 1)+"/x.jpg", http.StatusFound)
			}))
			t.Cleanup(inward.Close)
			before := f.images.requests.Load()
			for _, c := range []struct{ image, why string }{
				{f.images.URL + "/gone", "404"},
				{inward.URL + "/sale.jpg", "127.0.0.9 is a forbidden address (loopback)"},
			} {
				body := map[string]any{"title": "No image", "imageUrl": c.image, "to": map[string]any{"userIds": []string{"alice"}}}
				if code := a.call("POST", "/v1/notifications", body, &sent); code != 201 || !strings.Contains(sent.ImageError, c.why) || !strings.Contains(sent.ImageError, c.image) {
					t.Fatalf("send with %s: %d %+v, want an imageError naming it and %q", c.image, code, sent, c.why)
				}
				frame := phone.next("notification", "unseen")
				if frame["id"] != sent.ID || frame["imageUrl"] != nil {
					t.Fatalf("the notification with %s arrived as %v, want %s without an image", c.image, frame, sent.ID)
				}
				var one struct{ ImageURL *string }
				if a.call("GET", "/v1/notifications/"+sent.ID, nil, &one); one.ImageURL != nil {
					t.Errorf("stored with image %q", *one.ImageURL)
				}
			}
			if n := f.images.requests.Load() - before; n != 1 {
				t.Errorf("the image origin was asked %d times, want once (the 404; never through the redirect)", n)
			}

			// A CORE context's image reaches a websocket receiver as the
			// same kind of CDN URL.
			var bucket struct {
				BucketID    string
				Credentials []struct{ ID string }
			}
			if code := a.call("POST", "/v1/bucket", `{"providerCredentials":[{"type":"websocket","payload":{}}],"callbackConfig":{"type":"none"}}`, &bucket); code != 200 {
				t.Fatalf("bucket: %d", code)
			}
			var c struct{ ContextID string }
			a.call("POST", "/v1/bucket/"+bucket.BucketID+"/context/data",
				fmt.Sprintf(`{"title":"Shipped","image":%q,"icon":%q}`, f.images.URL+"/box.jpg", f.images.URL+"/logo.png"), &c)
			receivers := []map[string]string{{"credentialId": bucket.Credentials[0].ID, "userId": "alice"}}
			if code := a.call("POST", "/v1/bucket/"+bucket.BucketID+"/context/"+c.ContextID+"/send", map[string]any{"receivers": receivers}, nil); code != 200 {
				t.Fatalf("CORE send: %d", code)
			}
			frame = phone.next("notification", "unseen")
			cdnImage(t, a, frame["imageUrl"].(string), "large")
			extras, _ := frame["extras"].(map[string]any)
			icon, _ := extras["icon"].(string)
			cdnImage(t, a, icon, "icon")
		})
	}
}

package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pushgate/pushgate"
)

// An application mounts the node's handler under its own prefix and sends
// to its users from its own code with Notify; their devices connected
// through the application's server get it at once.
func TestNotifyFromAnEmbeddingApplication(t *testing.T) {
	cfg := nodeConfig(t, "")
	srv, a := startNode(t, cfg)
	creds, _ := srv.FirstApp()
	_, alice := a.token("alice")
	a.token("bob")

	mux := http.NewServeMux()
	mux.Handle("/push/", http.StripPrefix("/push", srv.Handler()))
	app := httptest.NewServer(mux)
	defer app.Close()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(app.URL, "http")+"/push/v1/ws?token="+alice, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	c := &wsClient{t: t, ws: ws}
	c.next("hello")

	id, n, err := srv.Notify(t.Context(), creds.AppID, []string{"alice"}, Notification{Title: "Order shipped", Priority: 7, TTL: time.Hour,
		Extras: []byte(`{"orderId":"A-17"}`)})
	if err != nil || n != 1 {
		t.Fatalf("Notify = %s, %d, %v", id, n, err)
	}
	f := c.next("notification")
	if f["id"] != id || f["title"] != "Order shipped" || f["priority"] != 7.0 || f["extras"].(map[string]any)["orderId"] != "A-17" {
		t.Fatalf("frame %v", f)
	}
	// Without users: every user of the app.
	if _, n, err := srv.Notify(t.Context(), creds.AppID, nil, Notification{Message: "to all"}); err != nil || n != 2 {
		t.Fatalf("broadcast: %d recipients, %v", n, err)
	}
	if f := c.next("notification", "unseen"); f["message"] != "to all" {
		t.Fatalf("frame %v", f)
	}
	if _, _, err := srv.Notify(t.Context(), creds.AppID, []string{"alice"}, Notification{Title: "x", Priority: 11}); pushgate.ErrorCode(err) != pushgate.EINVALID {
		t.Fatalf("priority 11: %v", err)
	}
}

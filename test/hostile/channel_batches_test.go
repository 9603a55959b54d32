package hostile

import (
	"time"

	"github.com/gorilla/websocket"
)

// deliveredChannelBatch points tn's channel webhook at the hooks fake,
// occupies and vacates a channel over the Pusher protocol, and waits for
// the batch that reports it to be delivered.
func (w *world) deliveredChannelBatch(tn *tenant) string {
	t := w.t
	var app struct{ Key string }
	w.must(200, tn.key, "PATCH", "/v1/app", map[string]any{"channelWebhookUrl": w.hooks.URL + "/pusher-" + tn.name}, &app)
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+w.addr+"/app/"+app.Key+"?protocol=7", nil)
	if err != nil {
		t.Fatalf("app %s: dial the Pusher protocol: %v", tn.name, err)
	}
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for _, frame := range []string{"", `{"event":"pusher:subscribe","data":{"channel":"orders"}}`} {
		if frame != "" {
			if err := ws.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
				t.Fatalf("app %s: subscribe: %v", tn.name, err)
			}
		}
		if _, _, err := ws.ReadMessage(); err != nil { // connection_established, subscription_succeeded
			t.Fatalf("app %s: read a Pusher frame: %v", tn.name, err)
		}
	}
	ws.Close()
	var id string
	ok := waitFor(30*time.Second, func() bool {
		var list struct {
			Batches []struct{ BatchID string }
		}
		w.call(tn.key, "GET", "/v1/app/webhooks?status=delivered", nil, &list)
		if len(list.Batches) > 0 {
			id = list.Batches[0].BatchID
		}
		return id != ""
	})
	if !ok {
		t.Fatalf("app %s: no channel webhook batch was delivered", tn.name)
	}
	return id
}

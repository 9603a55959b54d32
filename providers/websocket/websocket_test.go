package websocket_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/apps"
	"github.com/pushgate/pushgate/buckets"
	"github.com/pushgate/pushgate/contexts"
	"github.com/pushgate/pushgate/inbox"
	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/providers"
	"github.com/pushgate/pushgate/providers/websocket"
	"github.com/pushgate/pushgate/recipients"
	"github.com/pushgate/pushgate/storage/sqlstore"
)

func ptr[T any](v T) *T { return &v }

func newInbox(t *testing.T, db *sqlstore.DB) (*inbox.Service, string) {
	t.Helper()
	a := &apps.App{ID: pushgate.NewID(), Name: "a", Key: pushgate.RandomToken(10), SealedSecret: "x", CreatedAt: time.Now().UTC()}
	if err := db.Apps().CreateApp(context.Background(), a, nil); err != nil {
		t.Fatal(err)
	}
	return inbox.NewService(db.Inbox(), inbox.Options{}), a.ID
}

func message(appID string, c *contexts.Context, user string) *providers.Message {
	c.AppID, c.BucketID, c.CreatedAt = appID, pushgate.NewID(), time.Now().UTC()
	if c.ID == "" {
		c.ID = pushgate.NewID()
	}
	return &providers.Message{ID: pushgate.NewID(), ForeignID: "crm-1", Context: c,
		Receiver: recipients.Receiver{CredentialID: pushgate.NewID(), UserID: user, ForeignID: "crm-1"}}
}

// A data context becomes a notification in the user's inbox: its title,
// body, image and click URL in the inbox's fields, the rest in extras, the
// CORE ids on it, and an expiry from its ttl.
func TestSendStoresTheContextInTheUsersInbox(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		in, app := newInbox(t, db)
		reg := providers.NewRegistry()
		websocket.Register(reg, in)
		p, err := reg.New(&buckets.Credential{ID: "c", Type: buckets.WebSocket})
		if err != nil {
			t.Fatal(err)
		}
		m := message(app, &contexts.Context{Kind: contexts.KindData, Data: &contexts.Data{
			Title: "Sale", Body: "50% off", Image: "https://cdn.example/a.png", Icon: "https://cdn.example/i.png",
			Behaviour: "https://shop.example/sale", TTL: ptr(3600.0), ExternalData: `{"sku":1}`,
			Actions: []contexts.Action{{Action: "buy", Title: "Buy", Behaviour: "https://shop.example/buy"}},
		}}, "ann")
		if err := p.Send(context.Background(), m); err != nil {
			t.Fatal(err)
		}
		it, err := in.Item(context.Background(), app, "ann", m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if it.Title != "Sale" || it.Message != "50% off" || it.ImageURL != "https://cdn.example/a.png" || it.ClickURL != "https://shop.example/sale" ||
			it.Priority != 5 || it.Status != inbox.StatusUnseen {
			t.Errorf("stored %+v", it)
		}
		if it.Source != inbox.SourceCore || it.MessageID != m.ID || it.BucketID != m.Context.BucketID || it.ContextID != m.Context.ID {
			t.Errorf("CORE ids: source %q message %q bucket %q context %q", it.Source, it.MessageID, it.BucketID, it.ContextID)
		}
		if want := m.Context.CreatedAt.Add(time.Hour); it.ExpiresAt.Sub(want).Abs() > time.Millisecond {
			t.Errorf("expires at %v, want %v (the context's ttl)", it.ExpiresAt, want)
		}
		var x map[string]any
		if err := json.Unmarshal(it.Extras, &x); err != nil {
			t.Fatal(err)
		}
		acts, _ := x["actions"].([]any)
		if x["contextId"] != m.Context.ID || x["foreignId"] != "crm-1" || x["icon"] != "https://cdn.example/i.png" || x["externalData"] != `{"sku":1}` || len(acts) != 1 {
			t.Errorf("extras %s", it.Extras)
		}
		if a, _ := acts[0].(map[string]any); a["action"] != "buy" || a["url"] != "https://shop.example/buy" {
			t.Errorf("action %v", acts[0])
		}
		// A retry of a send that was stored (its outcome unknown) is sent,
		// and stores nothing more.
		if err := p.Send(context.Background(), m); err != nil {
			t.Fatalf("second send: %v", err)
		}
		if items, _, err := in.Inbox(context.Background(), inbox.Query{AppID: app, UserID: "ann"}); err != nil || len(items) != 1 {
			t.Fatalf("inbox after a retry: %d items, %v", len(items), err)
		}
	})
}

// Raw and silent contexts render from their neutral parts.
func TestRender(t *testing.T) {
	raw := message("app", &contexts.Context{Kind: contexts.KindRaw, Raw: &contexts.Raw{
		Common:   &contexts.RawCommon{Title: "Common", ImageURL: "https://cdn.example/c.png", Data: &contexts.StringOrMap{Map: map[string]string{"k": "v"}}},
		Chromium: &contexts.RawWebPush{Body: "from chromium", DefaultAction: "https://x.example/open"},
	}}, "u")
	n, err := websocket.Render(raw)
	if err != nil {
		t.Fatal(err)
	}
	if n.Title != "Common" || n.Message != "from chromium" || n.ImageURL != "https://cdn.example/c.png" || n.ClickURL != "https://x.example/open" ||
		string(n.Extras) != `{"contextId":"`+raw.Context.ID+`","foreignId":"crm-1","data":{"k":"v"}}` || n.UserIDs[0] != "u" || !n.ExpiresAt.IsZero() {
		t.Errorf("raw rendered %+v extras %s", n, n.Extras)
	}
	silent := message("app", &contexts.Context{Kind: contexts.KindSilent, Silent: &contexts.Silent{ExternalData: "x<y"}}, "u")
	if n, err = websocket.Render(silent); err != nil {
		t.Fatal(err)
	}
	if n.Title != "" || n.Message != "" || string(n.Extras) != `{"contextId":"`+silent.Context.ID+`","foreignId":"crm-1","externalData":"x<y","silent":true}` {
		t.Errorf("silent rendered %+v extras %s", n, n.Extras)
	}
	if _, err := websocket.Render(&providers.Message{ID: "m", Context: &contexts.Context{Kind: contexts.KindData}}); err == nil {
		t.Error("a data context without data rendered")
	}
}

// failing is an inbox whose store answers err.
type failing struct{ err error }

func (f failing) SendCore(context.Context, *inbox.Notification) error { return f.err }

// A storage failure is unavailable and retried; a notification the inbox
// refuses is a permanent invalid payload.
func TestOutcomes(t *testing.T) {
	db := testenv.OpenDB(t, testenv.SQLiteURL(t))
	in, app := newInbox(t, db)
	m := message(app, &contexts.Context{Kind: contexts.KindData, Data: &contexts.Data{Title: "t"}}, "ann")
	db.Close()
	o := providers.Classify(websocket.New(in).Send(context.Background(), m))
	if o == nil || o.Permanent || o.Reason != providers.ReasonUnavailable {
		t.Errorf("closed database: %v, want transient unavailable", o)
	}
	o = providers.Classify(websocket.New(failing{errors.New("connection reset")}).Send(context.Background(), m))
	if o == nil || o.Permanent || o.Reason != providers.ReasonUnavailable {
		t.Errorf("store error: %v, want transient unavailable", o)
	}
	o = providers.Classify(websocket.New(failing{pushgate.Invalid("bad", "title: too long")}).Send(context.Background(), m))
	if o == nil || !o.Permanent || o.Reason != providers.ReasonInvalidPayload {
		t.Errorf("refused: %v, want permanent invalid_payload", o)
	}
}

package inbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/apps"
	"github.com/pushgate/pushgate/inbox"
	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/storage/sqlstore"
)

// recorder is a Listener that writes down what it is told.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) add(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf(format, args...))
}

func (r *recorder) Stored(_ context.Context, n *inbox.Notification, users []string) {
	r.add("stored %s %v broadcast=%v", n.Title, users, n.Broadcast)
}

func (r *recorder) Changed(_ context.Context, appID, userID string, items []*inbox.Item) {
	var s []string
	for _, it := range items {
		s = append(s, it.Title+":"+string(it.Status))
	}
	r.add("changed %s %v", userID, s)
}

func (r *recorder) Retracted(_ context.Context, n *inbox.Notification, users []string) {
	r.add("retracted %s %v", n.Title, users)
}

func (r *recorder) TokenRevoked(_ context.Context, t *inbox.Token) { r.add("revoked %s", t.UserID) }

// take returns what was told since the last take.
func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.events
	r.events = nil
	return out
}

// clock is a settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newService returns a service on a fresh database with an app, its
// listener and its clock.
func newService(t testing.TB, db *sqlstore.DB) (*inbox.Service, string, *recorder, *clock) {
	t.Helper()
	return newServiceWith(t, db, inbox.Options{})
}

// newServiceWith is newService with opts (its clock, max age and
// retention are newService's).
func newServiceWith(t testing.TB, db *sqlstore.DB, opts inbox.Options) (*inbox.Service, string, *recorder, *clock) {
	t.Helper()
	now := time.Now().UTC()
	a := &apps.App{ID: pushgate.NewID(), Name: "a", Key: pushgate.RandomToken(10), SealedSecret: "x", CreatedAt: now}
	if err := db.Apps().CreateApp(context.Background(), a, nil); err != nil {
		t.Fatal(err)
	}
	rec, clk := &recorder{}, &clock{t: now}
	opts.Now, opts.MaxAge, opts.Retention = clk.Now, 48*time.Hour, 24*time.Hour
	s := inbox.NewService(db.Inbox(), opts)
	s.SetListener(rec)
	return s, a.ID, rec, clk
}

func ptr[T any](v T) *T { return &v }

func TestSendValidation(t *testing.T) {
	db := testenv.OpenDB(t, testenv.SQLiteURL(t))
	s, app, rec, _ := newService(t, db)
	ctx := context.Background()
	many := make([]string, inbox.MaxRecipients+1)
	for i := range many {
		many[i] = fmt.Sprint("u", i)
	}
	for _, c := range []struct {
		name  string
		n     inbox.NewNotification
		field string // the start of the one field problem expected
	}{
		{"no title or message", inbox.NewNotification{}, "message: a title or a message is required"},
		{"blank", inbox.NewNotification{Title: "  ", Message: "\n"}, "message:"},
		{"long title", inbox.NewNotification{Title: strings.Repeat("é", 257)}, "title: must be at most 256"},
		{"long message", inbox.NewNotification{Message: strings.Repeat("x", 4097)}, "message: must be at most 4096"},
		{"NUL in title", inbox.NewNotification{Title: "a\x00b"}, "title: must be UTF-8"},
		{"bad UTF-8", inbox.NewNotification{Message: "a\xffb"}, "message: must be UTF-8"},
		{"priority 0", inbox.NewNotification{Title: "t", Priority: ptr(0)}, "priority: must be 1 to 10"},
		{"priority 11", inbox.NewNotification{Title: "t", Priority: ptr(11)}, "priority:"},
		{"ttl 0", inbox.NewNotification{Title: "t", TTL: ptr[int64](0)}, "ttl: must be at least 1"},
		{"extras array", inbox.NewNotification{Title: "t", Extras: json.RawMessage(`[1]`)}, "extras: must be a JSON object"},
		{"extras string", inbox.NewNotification{Title: "t", Extras: json.RawMessage(`"x"`)}, "extras: must be a JSON object"},
		{"extras broken", inbox.NewNotification{Title: "t", Extras: json.RawMessage(`{"a":`)}, "extras: must be a JSON object"},
		{"extras NUL", inbox.NewNotification{Title: "t", Extras: json.RawMessage(`{"a":"\u0000"}`)}, "extras: must not contain NUL"},
		{"extras big", inbox.NewNotification{Title: "t", Extras: json.RawMessage(`{"a":"` + strings.Repeat("x", 8192) + `"}`)}, "extras: must be at most 8192"},
		{"image relative", inbox.NewNotification{Title: "t", ImageURL: "/a.png"}, "imageUrl: must be an absolute URL"},
		{"image ftp", inbox.NewNotification{Title: "t", ImageURL: "ftp://x/a.png"}, "imageUrl:"},
		{"image long", inbox.NewNotification{Title: "t", ImageURL: "https://x/" + strings.Repeat("a", 2048)}, "imageUrl: must be at most 2048"},
		{"image on loopback", inbox.NewNotification{Title: "t", ImageURL: "http://127.0.0.1:8080/a.png"}, "imageUrl: 127.0.0.1 is a forbidden address (loopback)"},
		{"image at the metadata service", inbox.NewNotification{Title: "t", ImageURL: "http://169.254.169.254/a.png"}, "imageUrl: 169.254.169.254 is a forbidden address"},
		{"image on localhost", inbox.NewNotification{Title: "t", ImageURL: "https://localhost/a.png"}, "imageUrl: localhost"},
		{"image with a port and no host", inbox.NewNotification{Title: "t", ImageURL: "https://:443/a.png"}, "imageUrl: must be an absolute URL"},
		{"click javascript", inbox.NewNotification{Title: "t", ClickURL: "javascript:alert(1)"}, "clickUrl: must be an absolute URL"},
		{"click relative", inbox.NewNotification{Title: "t", ClickURL: "page"}, "clickUrl:"},
		{"no users", inbox.NewNotification{Title: "t", To: &inbox.Recipients{}}, "to.userIds: must list 1 to 1000 users"},
		{"too many users", inbox.NewNotification{Title: "t", To: &inbox.Recipients{UserIDs: many}}, "to.userIds: must list 1 to 1000"},
		{"empty user", inbox.NewNotification{Title: "t", To: &inbox.Recipients{UserIDs: []string{"a", "b", "c", ""}}}, "to.userIds[3]: is required"},
		{"control in user", inbox.NewNotification{Title: "t", To: &inbox.Recipients{UserIDs: []string{"a\nb"}}}, "to.userIds[0]: must not contain control"},
		{"long user", inbox.NewNotification{Title: "t", To: &inbox.Recipients{UserIDs: []string{strings.Repeat("u", 201)}}}, "to.userIds[0]: must be at most 200"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := s.Send(ctx, app, c.n)
			var e *pushgate.Error
			if pushgate.ErrorCode(err) != pushgate.EINVALID || !errorAs(err, &e) || len(e.Fields) != 1 || !strings.HasPrefix(e.Fields[0], c.field) {
				t.Fatalf("err = %v, want one field problem %q", err, c.field)
			}
		})
	}
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("invalid sends told the listener %v", got)
	}
	if list, _, _, _ := s.List(ctx, app, "", 0); len(list) != 0 {
		t.Fatalf("invalid sends stored %d notifications", len(list))
	}
}

func errorAs(err error, e **pushgate.Error) bool { return errors.As(err, e) }

func TestSendAndInbox(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		s, app, rec, clk := newService(t, db)
		ctx := context.Background()
		ann, annValue, err := s.CreateToken(ctx, app, "ann", "phone")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.CreateToken(ctx, app, "bob", "laptop"); err != nil {
			t.Fatal(err)
		}
		clk.Add(time.Second)

		cast, c, err := s.Send(ctx, app, inbox.NewNotification{Title: "all", Extras: json.RawMessage(` { "a" : 1 } `)})
		if err != nil || c.Recipients != 2 || !cast.Broadcast || cast.Priority != 5 || string(cast.Extras) != `{"a":1}` {
			t.Fatalf("broadcast = %+v, %+v, %v", cast, c, err)
		}
		if want := cast.CreatedAt.Add(48 * time.Hour); !cast.ExpiresAt.Equal(want) {
			t.Fatalf("broadcast expires %v, want MaxAge later", cast.ExpiresAt)
		}
		clk.Add(time.Second)
		one, c, err := s.Send(ctx, app, inbox.NewNotification{Message: "hi", Priority: ptr(9), TTL: ptr[int64](60),
			ImageURL: "https://cdn.example/a.png", ClickURL: "myapp://open/1", To: &inbox.Recipients{UserIDs: []string{"ann", "ann", "cid"}}})
		if err != nil || c.Recipients != 2 || one.Priority != 9 || !one.ExpiresAt.Equal(one.CreatedAt.Add(time.Minute)) || !slices.Equal(one.UserIDs, []string{"ann", "cid"}) {
			t.Fatalf("targeted = %+v, %+v, %v", one, c, err)
		}
		long, _, err := s.Send(ctx, app, inbox.NewNotification{Title: "long", TTL: ptr[int64](1 << 40), To: &inbox.Recipients{UserIDs: []string{"bob"}}})
		if err != nil || !long.ExpiresAt.Equal(long.CreatedAt.Add(48*time.Hour)) {
			t.Fatalf("a ttl over MaxAge: expires %v, %v", long.ExpiresAt, err)
		}
		if got := rec.take(); !slices.Equal(got, []string{"stored all [] broadcast=true", "stored  [ann cid] broadcast=false", "stored long [bob] broadcast=false"}) {
			t.Fatalf("listener heard %q", got)
		}

		// The token opens its user's inbox, newest first.
		tok, err := s.Authenticate(ctx, annValue)
		if err != nil || tok.ID != ann.ID || tok.UserID != "ann" {
			t.Fatalf("Authenticate = %+v, %v", tok, err)
		}
		items, next, err := s.Inbox(ctx, inbox.Query{AppID: tok.AppID, UserID: tok.UserID})
		if err != nil || next != "" || len(items) != 2 || items[0].ID != one.ID || items[1].ID != cast.ID || items[0].Status != inbox.StatusUnseen {
			t.Fatalf("Inbox = %d items, %q, %v", len(items), next, err)
		}
		if n, _ := s.Unseen(ctx, app, "ann"); n != 2 {
			t.Fatalf("Unseen = %d", n)
		}

		// Marks tell the listener what changed, and only when something did.
		got, err := s.Mark(ctx, app, "ann", []string{one.ID, one.ID, "junk", pushgate.NewID()}, inbox.StatusRead)
		if err != nil || len(got) != 1 || got[0].Status != inbox.StatusRead {
			t.Fatalf("Mark read = %+v, %v", got, err)
		}
		if _, err := s.Mark(ctx, app, "ann", []string{one.ID}, inbox.StatusDelivered); err != nil {
			t.Fatal(err)
		}
		if it, _ := s.Item(ctx, app, "ann", one.ID); it.Status != inbox.StatusRead {
			t.Fatalf("a late ack moved the read item to %s", it.Status)
		}
		if n, err := s.ReadAll(ctx, app, "ann"); err != nil || n != 1 {
			t.Fatalf("ReadAll = %d, %v", n, err)
		}
		if n, _ := s.ReadAll(ctx, app, "ann"); n != 0 {
			t.Fatalf("second ReadAll = %d", n)
		}
		if n, _ := s.Unseen(ctx, app, "ann"); n != 0 {
			t.Fatalf("Unseen after read-all = %d", n)
		}
		if got := rec.take(); !slices.Equal(got, []string{"changed ann [:read]", "changed ann []"}) {
			t.Fatalf("listener heard %q", got)
		}

		// Retraction and revocation are told too.
		if err := s.Delete(ctx, app, one.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, app, one.ID); pushgate.ErrorCode(err) != pushgate.ENOTFOUND {
			t.Fatalf("second Delete err = %v", err)
		}
		if err := s.DeleteToken(ctx, app, ann.ID); err != nil {
			t.Fatal(err)
		}
		if got := rec.take(); !slices.Equal(got, []string{"retracted  [ann cid]", "revoked ann"}) {
			t.Fatalf("listener heard %q", got)
		}
		if _, err := s.Authenticate(ctx, annValue); pushgate.ErrorCode(err) != pushgate.EUNAUTHORIZED {
			t.Fatalf("Authenticate(revoked) err = %v", err)
		}
	})
}

func TestTokens(t *testing.T) {
	db := testenv.OpenDB(t, testenv.SQLiteURL(t))
	s, app, _, _ := newService(t, db)
	ctx := context.Background()
	for _, c := range []struct{ user, name, field string }{
		{"", "n", "userId: is required"},
		{"a\x00", "n", "userId: must be UTF-8"},
		{"a\tb", "n", "userId: must not contain control"},
		{strings.Repeat("u", 201), "n", "userId: must be at most 200"},
		{"u", "", "name: is required"},
		{"u", strings.Repeat("n", 101), "name: must be at most 100"},
	} {
		_, _, err := s.CreateToken(ctx, app, c.user, c.name)
		var e *pushgate.Error
		if !errorAs(err, &e) || e.Code != pushgate.EINVALID || len(e.Fields) != 1 || !strings.HasPrefix(e.Fields[0], c.field) {
			t.Errorf("CreateToken(%q, %q) err = %v, want %q", c.user, c.name, err, c.field)
		}
	}
	tok, value, err := s.CreateToken(ctx, app, "ann", "phone")
	if err != nil || len(value) != 47 || !strings.HasPrefix(value, "pgt_") || tok.Hash != inbox.HashToken(value) {
		t.Fatalf("CreateToken = %+v, %q, %v", tok, value, err)
	}
	for _, bad := range []string{"", "pgt_", value[:46], value + "x", "pgk" + value[3:], value[:46] + "!", strings.ToUpper(value[:4]) + value[4:],
		"pgt_" + pushgate.RandomToken(32)} {
		if _, err := s.Authenticate(ctx, bad); pushgate.ErrorCode(err) != pushgate.EUNAUTHORIZED {
			t.Errorf("Authenticate(%q) err = %v", bad, err)
		}
	}
	if _, _, err := s.ListTokens(ctx, app, "", "", 101); pushgate.ErrorCode(err) != pushgate.EINVALID {
		t.Fatalf("ListTokens(101) err = %v", err)
	}
	if list, next, err := s.ListTokens(ctx, app, "ann", "", 0); err != nil || len(list) != 1 || next != "" {
		t.Fatalf("ListTokens = %d, %q, %v", len(list), next, err)
	}
	if err := s.DeleteToken(ctx, app, pushgate.NewID()); pushgate.ErrorCode(err) != pushgate.ENOTFOUND {
		t.Fatalf("DeleteToken(unknown) err = %v", err)
	}
	if _, _, err := s.Inbox(ctx, inbox.Query{AppID: app, UserID: "ann", Filter: "new"}); pushgate.ErrorCode(err) != pushgate.EINVALID {
		t.Fatalf("Inbox(bad filter) err = %v", err)
	}
	if _, err := s.Mark(ctx, app, "ann", nil, inbox.StatusRead); pushgate.ErrorCode(err) != pushgate.EINVALID {
		t.Fatalf("Mark(no ids) err = %v", err)
	}
	if _, err := s.Mark(ctx, app, "ann", []string{pushgate.NewID()}, inbox.StatusUnseen); pushgate.ErrorCode(err) != pushgate.EINVALID {
		t.Fatalf("Mark(unseen) err = %v", err)
	}
}

func TestSendCoreAndPurge(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		s, app, rec, clk := newService(t, db)
		ctx := context.Background()
		if _, _, err := s.CreateToken(ctx, app, "ann", "phone"); err != nil {
			t.Fatal(err)
		}
		n := &inbox.Notification{AppID: app, Title: "core", UserIDs: []string{"ann"}, BucketID: pushgate.NewID(), MessageID: pushgate.NewID(), ContextID: pushgate.NewID()}
		if err := s.SendCore(ctx, n); err != nil {
			t.Fatal(err)
		}
		if n.ID == "" || n.Source != inbox.SourceCore || n.Priority != 5 || !n.ExpiresAt.Equal(n.CreatedAt.Add(48*time.Hour)) {
			t.Fatalf("SendCore filled %+v", n)
		}
		if err := s.SendCore(ctx, &inbox.Notification{AppID: app, Title: "two", UserIDs: []string{"a", "b"}}); pushgate.ErrorCode(err) != pushgate.EINVALID {
			t.Fatalf("SendCore(two users) err = %v", err)
		}
		got, c, err := s.Get(ctx, app, n.ID)
		if err != nil || got.BucketID != n.BucketID || got.MessageID != n.MessageID || got.ContextID != n.ContextID || c.Recipients != 1 {
			t.Fatalf("Get = %+v, %+v, %v", got, c, err)
		}
		read, _, _ := s.Send(ctx, app, inbox.NewNotification{Title: "read", To: &inbox.Recipients{UserIDs: []string{"ann"}}})
		if _, err := s.Mark(ctx, app, "ann", []string{read.ID}, inbox.StatusRead); err != nil {
			t.Fatal(err)
		}
		rec.take()

		// A read notification outlives its read by Retention (a day); an
		// unread one lives MaxAge (two days).
		clk.Add(23 * time.Hour)
		if n, err := s.Purge(ctx); err != nil || n != 0 {
			t.Fatalf("Purge before retention = %d, %v", n, err)
		}
		clk.Add(2 * time.Hour)
		if n, err := s.Purge(ctx); err != nil || n != 1 {
			t.Fatalf("Purge after retention = %d, %v", n, err)
		}
		if items, _, _ := s.Inbox(ctx, inbox.Query{AppID: app, UserID: "ann"}); len(items) != 1 || items[0].ID != n.ID {
			t.Fatalf("inbox after retention = %d items", len(items))
		}
		clk.Add(24 * time.Hour)
		if n, err := s.Purge(ctx); err != nil || n != 1 {
			t.Fatalf("Purge after MaxAge = %d, %v", n, err)
		}
		if _, _, err := s.Get(ctx, app, n.ID); pushgate.ErrorCode(err) != pushgate.ENOTFOUND {
			t.Fatal("an expired notification was kept")
		}
		if got := rec.take(); len(got) != 0 {
			t.Fatalf("the purge told the listener %q", got)
		}
	})
}

package sqlstore_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/inbox"
	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/storage/sqlstore"
)

// inboxFixture is a store with helpers that make apps, tokens and
// notifications at chosen times.
type inboxFixture struct {
	t    *testing.T
	db   *sqlstore.DB
	s    *sqlstore.InboxStore
	base time.Time
}

func newInboxFixture(t *testing.T, db *sqlstore.DB) *inboxFixture {
	return &inboxFixture{t: t, db: db, s: db.Inbox(), base: time.Now().UTC().Truncate(time.Microsecond).Add(-time.Hour)}
}

// at is the fixture's time plus d.
func (f *inboxFixture) at(d time.Duration) time.Time { return f.base.Add(d) }

func (f *inboxFixture) app() string {
	f.t.Helper()
	a, k := newApp("inbox")
	if err := f.db.Apps().CreateApp(context.Background(), a, k); err != nil {
		f.t.Fatal(err)
	}
	return a.ID
}

func (f *inboxFixture) token(appID, userID string, at time.Time) *inbox.Token {
	f.t.Helper()
	tok := &inbox.Token{ID: pushgate.NewID(), AppID: appID, UserID: userID, Name: "phone",
		Hash: inbox.HashToken(pushgate.RandomToken(32)), CreatedAt: at}
	if err := f.s.CreateToken(context.Background(), tok); err != nil {
		f.t.Fatal(err)
	}
	return tok
}

// send stores a notification created at at, to users (none: a broadcast),
// living a day.
func (f *inboxFixture) send(appID string, at time.Time, users ...string) *inbox.Notification {
	f.t.Helper()
	n := &inbox.Notification{ID: pushgate.NewID(), AppID: appID, Title: "t " + at.Format(time.StampMicro), Message: "m", Priority: 5,
		Extras: []byte(`{"k":1}`), Broadcast: len(users) == 0, UserIDs: users, Source: inbox.SourceAPI,
		CreatedAt: at, ExpiresAt: at.Add(24 * time.Hour)}
	c := inbox.Counts{Recipients: len(users)}
	if n.Broadcast {
		var err error
		if c.Recipients, err = f.s.CountUsers(context.Background(), appID); err != nil {
			f.t.Fatal(err)
		}
	}
	if err := f.s.InsertNotification(context.Background(), n, c); err != nil {
		f.t.Fatal(err)
	}
	return n
}

// ids lists a user's inbox (filter, newest first) at now by notification id.
func (f *inboxFixture) ids(appID, userID string, filter inbox.Filter, now time.Time) []string {
	f.t.Helper()
	items, next, err := f.s.Inbox(context.Background(), inbox.Query{AppID: appID, UserID: userID, Filter: filter, Limit: 100, Now: now})
	if err != nil || next != "" {
		f.t.Fatalf("Inbox(%s) = %v, next %q", userID, err, next)
	}
	out := []string{}
	for _, it := range items {
		out = append(out, it.ID)
	}
	return out
}

func (f *inboxFixture) unseen(appID, userID string, now time.Time) int {
	f.t.Helper()
	n, err := f.s.Unseen(context.Background(), appID, userID, now)
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

func inboxIs(got []string, want ...*inbox.Notification) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i].ID {
			return false
		}
	}
	return true
}

func TestInboxTokens(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		f := newInboxFixture(t, db)
		a, b := f.app(), f.app()
		t1 := f.token(a, "ann", f.at(0))
		t2 := f.token(a, "ann", f.at(time.Second))
		t3 := f.token(a, "bob", f.at(2*time.Second))
		f.token(b, "ann", f.at(3*time.Second))

		got, err := f.s.TokenByHash(ctx, t2.Hash)
		if err != nil || got.ID != t2.ID || got.AppID != a || got.UserID != "ann" || got.Name != "phone" || !got.CreatedAt.Equal(t2.CreatedAt) {
			t.Fatalf("TokenByHash = %+v, %v", got, err)
		}
		if _, err := f.s.TokenByHash(ctx, inbox.HashToken("pgt_unknown")); pushgate.ErrorCode(err) != pushgate.ENOTFOUND {
			t.Fatalf("TokenByHash(unknown) err = %v", err)
		}
		if n, _ := f.s.CountUsers(ctx, a); n != 2 {
			t.Fatalf("CountUsers = %d, want 2 (two tokens of one user count once)", n)
		}
		if n, _ := f.s.CountUsers(ctx, pushgate.NewID()); n != 0 {
			t.Fatalf("CountUsers(no users) = %d", n)
		}

		// Pages of the app's tokens in creation order; of one user.
		page, next, err := f.s.ListTokens(ctx, a, "", "", 2)
		if err != nil || len(page) != 2 || page[0].ID != t1.ID || page[1].ID != t2.ID || next == "" {
			t.Fatalf("ListTokens page 1 = %d, %q, %v", len(page), next, err)
		}
		page, next, err = f.s.ListTokens(ctx, a, "", next, 2)
		if err != nil || len(page) != 1 || page[0].ID != t3.ID || next != "" {
			t.Fatalf("ListTokens page 2 = %d, %q, %v", len(page), next, err)
		}
		if page, _, _ := f.s.ListTokens(ctx, a, "bob", "", 10); len(page) != 1 || page[0].ID != t3.ID {
			t.Fatalf("ListTokens(bob) = %d tokens", len(page))
		}
		if _, _, err := f.s.ListTokens(ctx, a, "", "not-a-cursor", 10); pushgate.ErrorCode(err) != pushgate.EINVALID {
			t.Fatalf("ListTokens(bad cursor) err = %v", err)
		}

		// Another app cannot delete the token; its user stays counted until
		// the last token goes.
		if _, err := f.s.DeleteToken(ctx, b, t1.ID); pushgate.ErrorCode(err) != pushgate.ENOTFOUND {
			t.Fatalf("DeleteToken(other app) err = %v", err)
		}
		if del, err := f.s.DeleteToken(ctx, a, t1.ID); err != nil || del.UserID != "ann" {
			t.Fatalf("DeleteToken = %+v, %v", del, err)
		}
		if n, _ := f.s.CountUsers(ctx, a); n != 2 {
			t.Fatalf("CountUsers after one of two tokens = %d, want 2", n)
		}
		if _, err := f.s.DeleteToken(ctx, a, t2.ID); err != nil {
			t.Fatal(err)
		}
		if n, _ := f.s.CountUsers(ctx, a); n != 1 {
			t.Fatalf("CountUsers after ann's last token = %d, want 1", n)
		}
		if _, err := f.s.TokenByHash(ctx, t2.Hash); pushgate.ErrorCode(err) != pushgate.ENOTFOUND {
			t.Fatal("a deleted token is still found")
		}

		orphan := &inbox.Token{ID: pushgate.NewID(), AppID: pushgate.NewID(), UserID: "x", Name: "n", Hash: "h", CreatedAt: f.at(0)}
		if err := f.s.CreateToken(ctx, orphan); pushgate.ErrorCode(err) != pushgate.ENOTFOUND {
			t.Fatalf("CreateToken(no app) err = %v", err)
		}
	})
}

// TestInboxIsolation: a user sees only the user's own notifications and
// the app's broadcasts since the user's first token, never another user's
// or another app's.
func TestInboxIsolation(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		f := newInboxFixture(t, db)
		a, b := f.app(), f.app()
		early := f.send(a, f.at(0)) // before anyone's token
		f.token(a, "ann", f.at(time.Second))
		f.token(a, "bob", f.at(time.Second))
		f.token(b, "ann", f.at(time.Second))
		toAnn := f.send(a, f.at(2*time.Second), "ann")
		castA := f.send(a, f.at(3*time.Second))
		castB := f.send(b, f.at(4*time.Second))
		toAnnB := f.send(b, f.at(5*time.Second), "ann", "cid")
		toCid := f.send(a, f.at(6*time.Second), "cid") // cid has no token: targeted only
		now := f.at(10 * time.Second)

		for _, c := range []struct {
			app, user string
			want      []*inbox.Notification
		}{
			{a, "ann", []*inbox.Notification{castA, toAnn}},
			{a, "bob", []*inbox.Notification{castA}},
			{a, "cid", []*inbox.Notification{toCid}},
			{b, "ann", []*inbox.Notification{toAnnB, castB}},
			{b, "bob", []*inbox.Notification{}},
		} {
			if got := f.ids(c.app, c.user, inbox.FilterAll, now); !inboxIs(got, c.want...) {
				t.Errorf("inbox of %s in app %s = %v, want %d items", c.user, c.app[:8], got, len(c.want))
			}
			if n := f.unseen(c.app, c.user, now); n != len(c.want) {
				t.Errorf("unseen of %s in app %s = %d, want %d", c.user, c.app[:8], n, len(c.want))
			}
		}
		if _, c, err := f.s.GetNotification(ctx, a, castA.ID); err != nil || c.Recipients != 2 {
			t.Fatalf("broadcast recipients = %+v, %v; want the 2 users with a token", c, err)
		}
		if got, _, err := f.s.GetNotification(ctx, b, toAnnB.ID); err != nil || len(got.UserIDs) != 2 || string(got.Extras) != `{"k":1}` {
			t.Fatalf("GetNotification = %+v, %v", got, err)
		}
		if _, _, err := f.s.GetNotification(ctx, b, toAnn.ID); pushgate.ErrorCode(err) != pushgate.ENOTFOUND {
			t.Fatalf("GetNotification(other app) err = %v", err)
		}

		// Bob cannot see or act on Ann's notification, nor Ann on another
		// app's, nor anyone on the broadcast sent before their token.
		for _, c := range []struct{ app, user, id string }{{a, "bob", toAnn.ID}, {a, "ann", toAnnB.ID}, {b, "ann", toAnn.ID}, {a, "ann", early.ID}} {
			if _, err := f.s.Item(ctx, c.app, c.user, c.id, now); pushgate.ErrorCode(err) != pushgate.ENOTFOUND {
				t.Errorf("Item(%s, %s) err = %v, want not found", c.user, c.id, err)
			}
			for _, st := range []inbox.Status{inbox.StatusDelivered, inbox.StatusRead, inbox.StatusDeleted} {
				if got, err := f.s.Mark(ctx, c.app, c.user, []string{c.id}, st, now); err != nil || len(got) != 0 {
					t.Errorf("Mark(%s, %s, %s) = %d items, %v", c.user, c.id, st, len(got), err)
				}
			}
		}
		if _, err := f.s.ReadAll(ctx, a, "bob", now); err != nil {
			t.Fatal(err)
		}
		if n := f.unseen(a, "ann", now); n != 2 {
			t.Fatalf("ann's unseen after bob's read-all = %d, want 2", n)
		}
		if it, err := f.s.Item(ctx, a, "ann", toAnn.ID, now); err != nil || it.Status != inbox.StatusUnseen || it.Title != toAnn.Title {
			t.Fatalf("ann's item = %+v, %v", it, err)
		}
	})
}

func TestInboxStates(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		f := newInboxFixture(t, db)
		a := f.app()
		f.token(a, "ann", f.at(0))
		f.token(a, "bob", f.at(0))
		n1 := f.send(a, f.at(time.Second), "ann", "bob")
		n2 := f.send(a, f.at(2*time.Second))
		n3 := f.send(a, f.at(3*time.Second), "ann")
		now := f.at(10 * time.Second)

		got, err := f.s.Mark(ctx, a, "ann", []string{n1.ID, n2.ID}, inbox.StatusDelivered, now)
		if err != nil || len(got) != 2 || got[0].Status != inbox.StatusDelivered || got[0].DeliveredAt == nil {
			t.Fatalf("Mark delivered = %+v, %v", got, err)
		}
		if got, _ := f.s.Mark(ctx, a, "ann", []string{n1.ID}, inbox.StatusDelivered, now); len(got) != 0 {
			t.Fatal("delivered twice changed the item")
		}
		if got, err := f.s.Mark(ctx, a, "ann", []string{n1.ID}, inbox.StatusRead, now); err != nil || len(got) != 1 || got[0].Status != inbox.StatusRead {
			t.Fatalf("Mark read = %+v, %v", got, err)
		}
		// An acknowledgement after the read leaves it read.
		if got, _ := f.s.Mark(ctx, a, "ann", []string{n1.ID}, inbox.StatusDelivered, now); len(got) != 0 {
			t.Fatal("delivered after read changed the item")
		}
		if it, _ := f.s.Item(ctx, a, "ann", n1.ID, now); it.Status != inbox.StatusRead || it.ReadAt == nil || it.DeliveredAt == nil {
			t.Fatalf("item after read and a late ack = %+v", it)
		}
		// Reading a never-acknowledged item works too.
		if got, _ := f.s.Mark(ctx, a, "bob", []string{n2.ID}, inbox.StatusRead, now); len(got) != 1 {
			t.Fatal("bob's read of the broadcast did not change it")
		}
		if c := f.unseen(a, "ann", now); c != 2 {
			t.Fatalf("ann's unseen = %d, want 2", c)
		}
		if got := f.ids(a, "ann", inbox.FilterSeen, now); !inboxIs(got, n1) {
			t.Fatalf("ann's seen = %v", got)
		}
		if got := f.ids(a, "ann", inbox.FilterUnseen, now); !inboxIs(got, n3, n2) {
			t.Fatalf("ann's unseen items = %v", got)
		}
		if _, c, _ := f.s.GetNotification(ctx, a, n1.ID); c != (inbox.Counts{Recipients: 2, Delivered: 1, Read: 1}) {
			t.Fatalf("counts of n1 = %+v", c)
		}

		// Read-all is one watermark: what was created up to it is read.
		if n, err := f.s.ReadAll(ctx, a, "ann", f.at(2*time.Second)); err != nil || n != 1 {
			t.Fatalf("ReadAll = %d, %v; want 1 (n2)", n, err)
		}
		if got := f.ids(a, "ann", inbox.FilterUnseen, now); !inboxIs(got, n3) {
			t.Fatalf("unseen after read-all = %v", got)
		}
		if it, _ := f.s.Item(ctx, a, "ann", n2.ID, now); it.Status != inbox.StatusRead || it.ReadAt == nil || it.DeliveredAt == nil {
			t.Fatalf("broadcast under the watermark = %+v", it)
		}
		if _, c, _ := f.s.GetNotification(ctx, a, n2.ID); c != (inbox.Counts{Recipients: 2, Delivered: 1, Read: 2}) {
			t.Fatalf("counts of the broadcast = %+v; want bob's read and ann's read-all", c)
		}
		if got, _ := f.s.Mark(ctx, a, "ann", []string{n2.ID}, inbox.StatusRead, now); len(got) != 0 {
			t.Fatal("reading an item under the watermark changed it")
		}
		// A watermark never moves back; a later one reads the rest.
		if n, _ := f.s.ReadAll(ctx, a, "ann", f.at(time.Second)); n != 0 || f.unseen(a, "ann", now) != 1 {
			t.Fatal("an earlier read-all moved the watermark back")
		}
		n4 := f.send(a, f.at(20*time.Second), "ann")
		if n, _ := f.s.ReadAll(ctx, a, "ann", now); n != 1 || f.unseen(a, "ann", f.at(30*time.Second)) != 1 {
			t.Fatal("read-all at now did not read n3 alone")
		}

		// Deleted: no longer listed, counted or found.
		if got, _ := f.s.Mark(ctx, a, "ann", []string{n4.ID, n1.ID}, inbox.StatusDeleted, now); len(got) != 2 {
			t.Fatalf("Mark deleted = %d items", len(got))
		}
		if got := f.ids(a, "ann", inbox.FilterAll, f.at(30*time.Second)); !inboxIs(got, n3, n2) {
			t.Fatalf("inbox after deletes = %v", got)
		}
		if f.unseen(a, "ann", f.at(30*time.Second)) != 0 {
			t.Fatal("a deleted item is counted")
		}
		if got, _ := f.s.Mark(ctx, a, "ann", []string{n4.ID}, inbox.StatusRead, now); len(got) != 0 {
			t.Fatal("a deleted item was read")
		}
		if _, err := f.s.Item(ctx, a, "ann", n4.ID, now); pushgate.ErrorCode(err) != pushgate.ENOTFOUND {
			t.Fatal("a deleted item is found")
		}
		if got := f.ids(a, "bob", inbox.FilterAll, now); !inboxIs(got, n2, n1) {
			t.Fatalf("bob's inbox after ann's deletes = %v", got)
		}
	})
}

func TestInboxPagesAndExpiry(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		f := newInboxFixture(t, db)
		a := f.app()
		f.token(a, "ann", f.at(0))
		var sent []*inbox.Notification
		for i := range 5 {
			if i%2 == 0 {
				sent = append(sent, f.send(a, f.at(time.Duration(i+1)*time.Second)))
			} else {
				sent = append(sent, f.send(a, f.at(time.Duration(i+1)*time.Second), "ann"))
			}
		}
		now := f.at(time.Minute)
		for _, oldest := range []bool{false, true} {
			var got []string
			cursor := ""
			for page := 0; ; page++ {
				items, next, err := f.s.Inbox(ctx, inbox.Query{AppID: a, UserID: "ann", Filter: inbox.FilterAll, Limit: 2, Cursor: cursor, Oldest: oldest, Now: now})
				if err != nil || len(items) > 2 || page > 3 {
					t.Fatalf("page %d: %d items, %v", page, len(items), err)
				}
				for _, it := range items {
					got = append(got, it.ID)
				}
				if next == "" {
					break
				}
				cursor = next
			}
			want := []*inbox.Notification{sent[4], sent[3], sent[2], sent[1], sent[0]}
			if oldest {
				want = sent
			}
			if !inboxIs(got, want...) {
				t.Fatalf("pages (oldest %v) = %v", oldest, got)
			}
		}
		items, _, err := f.s.Inbox(ctx, inbox.Query{AppID: a, UserID: "ann", Filter: inbox.FilterAll, Limit: 10, Since: sent[3].CreatedAt, Now: now})
		if err != nil || len(items) != 2 {
			t.Fatalf("since = %d items, %v", len(items), err)
		}
		if _, _, err := f.s.Inbox(ctx, inbox.Query{AppID: a, UserID: "ann", Limit: 10, Cursor: "%%%", Now: now}); pushgate.ErrorCode(err) != pushgate.EINVALID {
			t.Fatalf("bad cursor err = %v", err)
		}

		// Notifications pages, newest first.
		list, counts, next, err := f.s.ListNotifications(ctx, a, "", 3)
		if err != nil || len(list) != 3 || len(counts) != 3 || list[0].ID != sent[4].ID || next == "" {
			t.Fatalf("ListNotifications = %d, %q, %v", len(list), next, err)
		}
		if list, _, next, _ := f.s.ListNotifications(ctx, a, next, 3); len(list) != 2 || list[1].ID != sent[0].ID || next != "" {
			t.Fatalf("ListNotifications page 2 = %d, %q", len(list), next)
		}

		// Expired notifications (each lives a day) are never listed, counted
		// or found.
		later := sent[2].ExpiresAt
		if got := f.ids(a, "ann", inbox.FilterAll, later); !inboxIs(got, sent[4], sent[3]) {
			t.Fatalf("inbox at the third's expiry = %v", got)
		}
		if n := f.unseen(a, "ann", later); n != 2 {
			t.Fatalf("unseen at the third's expiry = %d", n)
		}
		if _, err := f.s.Item(ctx, a, "ann", sent[1].ID, later); pushgate.ErrorCode(err) != pushgate.ENOTFOUND {
			t.Fatal("an expired item is found")
		}
		if got, _ := f.s.Mark(ctx, a, "ann", []string{sent[0].ID}, inbox.StatusRead, later); len(got) != 0 {
			t.Fatal("an expired item was read")
		}
	})
}

func TestInboxPurgeAndDelete(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		f := newInboxFixture(t, db)
		a, b := f.app(), f.app()
		f.token(a, "ann", f.at(0))
		f.token(a, "bob", f.at(0))
		bTok := f.token(b, "ann", f.at(0))
		short := &inbox.Notification{ID: pushgate.NewID(), AppID: a, Title: "short", Priority: 5, Broadcast: true, Source: inbox.SourceAPI,
			CreatedAt: f.at(time.Second), ExpiresAt: f.at(2 * time.Second)}
		if err := f.s.InsertNotification(ctx, short, inbox.Counts{Recipients: 2}); err != nil {
			t.Fatal(err)
		}
		both := f.send(a, f.at(3*time.Second), "ann", "bob")
		toAnn := f.send(a, f.at(4*time.Second), "ann")
		cast := f.send(a, f.at(5*time.Second))
		kept := f.send(a, f.at(12*time.Second), "ann")
		readAt := f.at(10 * time.Second)
		if _, err := f.s.Mark(ctx, a, "bob", []string{both.ID}, inbox.StatusDeleted, readAt); err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.Mark(ctx, a, "ann", []string{both.ID}, inbox.StatusRead, readAt); err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.ReadAll(ctx, a, "ann", readAt); err != nil {
			t.Fatal(err)
		}

		// Nothing was read before readBefore yet: only the expired one goes.
		if n, err := f.s.Purge(ctx, f.at(20*time.Second), f.at(9*time.Second), 100); err != nil || n != 1 {
			t.Fatalf("first purge = %d, %v; want the expired one", n, err)
		}
		if _, _, err := f.s.GetNotification(ctx, a, short.ID); pushgate.ErrorCode(err) != pushgate.ENOTFOUND {
			t.Fatal("the expired notification was kept")
		}
		if got := f.ids(a, "ann", inbox.FilterAll, f.at(20*time.Second)); !inboxIs(got, kept, cast, toAnn, both) {
			t.Fatalf("ann's inbox after the first purge = %v", got)
		}
		// Now what ann read (both by a mark, toAnn and cast by read-all) is
		// out of her inbox; both and toAnn are nobody's any more and go; the
		// broadcast stays for bob.
		if n, err := f.s.Purge(ctx, f.at(20*time.Second), f.at(11*time.Second), 100); err != nil || n != 2 {
			t.Fatalf("second purge = %d, %v; want both and toAnn", n, err)
		}
		if got := f.ids(a, "ann", inbox.FilterAll, f.at(20*time.Second)); !inboxIs(got, kept) {
			t.Fatalf("ann's inbox after the second purge = %v", got)
		}
		if got := f.ids(a, "bob", inbox.FilterAll, f.at(20*time.Second)); !inboxIs(got, cast) {
			t.Fatalf("bob's inbox after the second purge = %v", got)
		}
		if f.unseen(a, "ann", f.at(20*time.Second)) != 1 {
			t.Fatal("ann's unseen after the purge is not 1")
		}

		// Retracting a notification takes it from every inbox.
		got, err := f.s.DeleteNotification(ctx, a, kept.ID)
		if err != nil || len(got.UserIDs) != 1 || got.UserIDs[0] != "ann" {
			t.Fatalf("DeleteNotification = %+v, %v", got, err)
		}
		if _, err := f.s.DeleteNotification(ctx, b, cast.ID); pushgate.ErrorCode(err) != pushgate.ENOTFOUND {
			t.Fatalf("DeleteNotification(other app) err = %v", err)
		}
		if n := f.unseen(a, "ann", f.at(20*time.Second)); n != 0 {
			t.Fatalf("unseen after the retraction = %d", n)
		}

		// Deleting the app deletes its inbox; the other app's stays.
		castB := f.send(b, f.at(13*time.Second))
		if err := db.Apps().DeleteApp(ctx, a); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.s.GetNotification(ctx, a, cast.ID); pushgate.ErrorCode(err) != pushgate.ENOTFOUND {
			t.Fatal("a deleted app's notification is kept")
		}
		if n, _ := f.s.CountUsers(ctx, a); n != 0 {
			t.Fatalf("a deleted app counts %d users", n)
		}
		var rows int
		if err := db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM inbox_tokens) + (SELECT count(*) FROM inbox_users)
			+ (SELECT count(*) FROM inbox_states) + (SELECT count(*) FROM inbox_recipients)`).Scan(&rows); err != nil || rows != 2 {
			t.Fatalf("rows left = %d, %v; want app b's token and user", rows, err)
		}
		if _, err := f.s.TokenByHash(ctx, bTok.Hash); err != nil {
			t.Fatal(err)
		}
		if got := f.ids(b, "ann", inbox.FilterAll, f.at(20*time.Second)); !inboxIs(got, castB) {
			t.Fatalf("app b's inbox = %v", got)
		}
	})
}

// TestInboxConcurrentReads: users reading the same notifications at once,
// by marks and read-alls racing each other, are each counted once, and
// nobody's read fails.
func TestInboxConcurrentReads(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		f := newInboxFixture(t, db)
		a := f.app()
		users := make([]string, 8)
		for i := range users {
			users[i] = fmt.Sprint("user", i)
			f.token(a, users[i], f.at(0))
		}
		var sent []*inbox.Notification
		var ids []string
		for i := range 6 {
			n := f.send(a, f.at(time.Duration(i+1)*time.Second))
			if i%2 == 1 {
				n = f.send(a, f.at(time.Duration(i+1)*time.Second), users...)
			}
			sent, ids = append(sent, n), append(ids, n.ID)
		}
		now := f.at(time.Minute)
		var wg sync.WaitGroup
		errs := make(chan error, 3*len(users))
		for i, u := range users {
			rev := slices.Clone(ids)
			if i%2 == 0 {
				slices.Reverse(rev)
			}
			wg.Add(3)
			go func() { defer wg.Done(); _, err := f.s.Mark(ctx, a, u, rev, inbox.StatusDelivered, now); errs <- err }()
			go func() { defer wg.Done(); _, err := f.s.Mark(ctx, a, u, rev, inbox.StatusRead, now); errs <- err }()
			go func() { defer wg.Done(); _, err := f.s.ReadAll(ctx, a, u, now); errs <- err }()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		for _, n := range sent {
			_, c, err := f.s.GetNotification(ctx, a, n.ID)
			if err != nil || c.Read != len(users) || c.Delivered > len(users) {
				t.Fatalf("counts of %s = %+v, %v; want %d reads", n.Title, c, err, len(users))
			}
		}
		for _, u := range users {
			if n := f.unseen(a, u, now); n != 0 {
				t.Fatalf("unseen of %s = %d", u, n)
			}
		}
	})
}

// TestInboxCountsMigration: counts kept on the row by the first inbox
// schema (delivered, reads) become state counts and read_alls.
func TestInboxCountsMigration(t *testing.T) {
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			ctx := context.Background()
			db, err := sqlstore.Open(ctx, d.URL, sqlstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			before := map[string]int64{"sqlite": 10, "postgres": 12}[d.Name]
			if err := sqlstore.MigrateUpTo(ctx, db, before); err != nil {
				t.Fatal(err)
			}
			f := newInboxFixture(t, db)
			a := f.app()
			// ann's token as the schema of then holds it (the store's
			// CreateToken writes columns of later migrations).
			for _, q := range []string{
				`INSERT INTO inbox_tokens (id, app_id, user_id, name, hash, created_at) VALUES ('` + pushgate.NewID() + `', '` + a + `', 'ann', 'phone', 'h', CURRENT_TIMESTAMP)`,
				`INSERT INTO inbox_users (app_id, user_id, tokens, first_token_at) VALUES ('` + a + `', 'ann', 1, CURRENT_TIMESTAMP)`,
				`INSERT INTO inbox_apps (app_id, users) VALUES ('` + a + `', 1)`,
			} {
				if _, err := db.ExecContext(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
			n := f.send(a, f.at(time.Second))
			// Under the first schema: bob read it one by one, ann by a
			// read-all; ann acknowledged it.
			for _, q := range []string{
				`INSERT INTO inbox_states (app_id, user_id, notification_id, status, read_at) VALUES ('` + a + `', 'bob', '` + n.ID + `', 'read', CURRENT_TIMESTAMP)`,
				`INSERT INTO inbox_states (app_id, user_id, notification_id, status, delivered_at) VALUES ('` + a + `', 'ann', '` + n.ID + `', 'delivered', CURRENT_TIMESTAMP)`,
				`UPDATE inbox_notifications SET delivered = 1, reads = 2`,
			} {
				if _, err := db.ExecContext(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if _, c, err := f.s.GetNotification(ctx, a, n.ID); err != nil || c != (inbox.Counts{Recipients: 1, Delivered: 1, Read: 2}) {
				t.Fatalf("counts after the migration = %+v, %v", c, err)
			}
		})
	}
}

// Users admitted by the app's connectAuthUrl are the app's users once,
// whatever tokens they also have or had, and have the broadcasts sent
// since their first admission.
func TestInboxDelegatedUsersCount(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		f := newInboxFixture(t, db)
		ctx := context.Background()
		a := f.app()
		users := func(want int, after string) {
			t.Helper()
			if n, err := f.s.CountUsers(ctx, a); err != nil || n != want {
				t.Fatalf("after %s: %d users, %v; want %d", after, n, err, want)
			}
		}
		join := func(user string, at time.Duration) {
			t.Helper()
			if err := f.s.JoinDelegated(ctx, a, user, f.at(at)); err != nil {
				t.Fatal(err)
			}
		}
		old := f.send(a, f.at(0))
		join("dee", time.Second)
		join("dee", 2*time.Second)
		users(1, "dee joined twice")
		dee := f.token(a, "dee", f.at(3*time.Second))
		users(1, "a token of dee")
		if _, err := f.s.DeleteToken(ctx, a, dee.ID); err != nil {
			t.Fatal(err)
		}
		users(1, "dee's only token deleted")

		tom := f.token(a, "tom", f.at(4*time.Second))
		users(2, "tom's token")
		join("tom", 5*time.Second)
		users(2, "tom joined too")
		if _, err := f.s.DeleteToken(ctx, a, tom.ID); err != nil {
			t.Fatal(err)
		}
		users(2, "tom's token deleted")
		ula := f.token(a, "ula", f.at(6*time.Second))
		users(3, "ula's token")
		if _, err := f.s.DeleteToken(ctx, a, ula.ID); err != nil {
			t.Fatal(err)
		}
		users(2, "ula's token deleted")

		// A user who had only read-all before (a row without tokens).
		if _, err := f.s.ReadAll(ctx, a, "val", f.at(7*time.Second)); err != nil {
			t.Fatal(err)
		}
		join("val", 8*time.Second)
		users(3, "val joined")

		fresh := f.send(a, f.at(9*time.Second))
		items, _, err := f.s.Inbox(ctx, inbox.Query{AppID: a, UserID: "dee", Filter: inbox.FilterAll, Limit: 10, Now: f.at(10 * time.Second)})
		if err != nil || len(items) != 1 || items[0].ID != fresh.ID || items[0].ID == old.ID {
			t.Fatalf("dee's inbox: %d items, %v; want only the broadcast sent after dee joined", len(items), err)
		}
		if err := f.s.JoinDelegated(ctx, pushgate.NewID(), "x", f.at(0)); pushgate.ErrorCode(err) != pushgate.ENOTFOUND {
			t.Fatalf("an unknown app: %v", err)
		}
	})
}

// A notification is stored whole or not at all: an unknown app is not
// found, a taken id a conflict, and neither leaves recipients behind.
func TestInboxInsertNotificationFailures(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		f := newInboxFixture(t, db)
		a := f.app()
		n := f.send(a, f.at(0), "ann", "bob")
		orphan := &inbox.Notification{ID: pushgate.NewID(), AppID: "no-such-app", Title: "t", Priority: 5, UserIDs: []string{"ann"},
			Source: inbox.SourceAPI, CreatedAt: f.at(time.Second), ExpiresAt: f.at(time.Hour)}
		if err := f.s.InsertNotification(ctx, orphan, inbox.Counts{Recipients: 1}); pushgate.ErrorCode(err) != pushgate.ENOTFOUND {
			t.Fatalf("unknown app: %v, want not found", err)
		}
		again := *n
		again.UserIDs = []string{"cid"}
		again.CreatedAt = f.at(2 * time.Second)
		if err := f.s.InsertNotification(ctx, &again, inbox.Counts{Recipients: 1}); pushgate.ErrorCode(err) != pushgate.ECONFLICT {
			t.Fatalf("taken id: %v, want a conflict", err)
		}
		if got := f.ids(a, "cid", inbox.FilterAll, f.at(time.Minute)); len(got) != 0 {
			t.Fatalf("cid's inbox after the failed insert = %v, want empty", got)
		}
		if got := f.ids(a, "bob", inbox.FilterAll, f.at(time.Minute)); len(got) != 1 || got[0] != n.ID {
			t.Fatalf("bob's inbox = %v, want [%s]", got, n.ID)
		}
		_, c, err := f.s.GetNotification(ctx, a, n.ID)
		if err != nil || c.Recipients != 2 {
			t.Fatalf("the first notification: %+v, %v", c, err)
		}
	})
}

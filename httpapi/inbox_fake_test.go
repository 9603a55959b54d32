package httpapi_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/httpapi"
	"github.com/pushgate/pushgate/inbox"
)

// fakeInbox is an in-memory httpapi.InboxService that keeps what the
// routes can observe: tokens by app and user, notifications by app, and
// each user's state. Its validation is the contract's in short (the
// service's own tests hold the rest).
type fakeInbox struct {
	mu     sync.Mutex
	now    time.Time
	tokens map[string]*inbox.Token // by value
	notes  []*inbox.Notification   // oldest first
	state  map[string]inbox.Status // by app/user/notification
	// fail, when set, is returned by every call (an unavailable store).
	fail error
}

var _ httpapi.InboxService = (*fakeInbox)(nil)

func newFakeInbox() *fakeInbox {
	return &fakeInbox{now: time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC), tokens: map[string]*inbox.Token{}, state: map[string]inbox.Status{}}
}

func (f *fakeInbox) tick() time.Time {
	f.now = f.now.Add(time.Second)
	return f.now
}

func (f *fakeInbox) CreateToken(_ context.Context, appID, userID, name string) (*inbox.Token, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, "", f.fail
	}
	var problems []string
	if name == "" || len(name) > 100 {
		problems = append(problems, "name: must be 1 to 100 characters")
	}
	if userID == "" || len(userID) > 200 {
		problems = append(problems, "userId: must be 1 to 200 characters")
	}
	if problems != nil {
		return nil, "", pushgate.Invalid("the token is invalid", problems...)
	}
	t := &inbox.Token{ID: pushgate.NewID(), AppID: appID, UserID: userID, Name: name, CreatedAt: f.tick()}
	value := "pgt_" + pushgate.RandomToken(32)
	f.tokens[value] = t
	return t, value, nil
}

func (f *fakeInbox) Authenticate(_ context.Context, value string) (*inbox.Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	if t, ok := f.tokens[value]; ok {
		return t, nil
	}
	return nil, pushgate.Errorf(pushgate.EUNAUTHORIZED, "invalid client token")
}

func (f *fakeInbox) ListTokens(_ context.Context, appID, userID, cursor string, limit int) ([]*inbox.Token, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var all []*inbox.Token
	for _, t := range f.tokens {
		if t.AppID == appID && (userID == "" || t.UserID == userID) {
			all = append(all, t)
		}
	}
	slices.SortFunc(all, func(a, b *inbox.Token) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return page(all, cursor, limit)
}

// page cuts a page out of all; the cursor is the index of the next one.
func page[T any](all []T, cursor string, limit int) ([]T, string, error) {
	start := 0
	if cursor != "" {
		n, err := strconv.Atoi(cursor)
		if err != nil || n < 0 || n > len(all) {
			return nil, "", pushgate.Invalid("the cursor is invalid", "cursor: is not a cursor of this list")
		}
		start = n
	}
	end := min(start+limit, len(all))
	next := ""
	if end < len(all) {
		next = strconv.Itoa(end)
	}
	return all[start:end], next, nil
}

func (f *fakeInbox) DeleteToken(_ context.Context, appID, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for v, t := range f.tokens {
		if t.AppID == appID && t.ID == id {
			delete(f.tokens, v)
			return nil
		}
	}
	return pushgate.NotFound("token")
}

func (f *fakeInbox) Send(_ context.Context, appID string, in inbox.NewNotification) (*inbox.Notification, inbox.Counts, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, inbox.Counts{}, f.fail
	}
	var problems []string
	if in.Title == "" && in.Message == "" {
		problems = append(problems, "message: a title or a message is required")
	}
	if in.Priority != nil && (*in.Priority < 1 || *in.Priority > 10) {
		problems = append(problems, "priority: must be from 1 to 10")
	}
	if in.To != nil && (len(in.To.UserIDs) == 0 || len(in.To.UserIDs) > inbox.MaxRecipients) {
		problems = append(problems, fmt.Sprintf("to.userIds: must list 1 to %d users", inbox.MaxRecipients))
	}
	if problems != nil {
		return nil, inbox.Counts{}, pushgate.Invalid("the notification is invalid", problems...)
	}
	n := &inbox.Notification{ID: pushgate.NewID(), AppID: appID, Title: in.Title, Message: in.Message, Priority: 5,
		Extras: in.Extras, ImageURL: in.ImageURL, ClickURL: in.ClickURL, Source: inbox.SourceAPI, Broadcast: in.To == nil}
	if in.Priority != nil {
		n.Priority = *in.Priority
	}
	if in.To != nil {
		for _, u := range in.To.UserIDs {
			if !slices.Contains(n.UserIDs, u) {
				n.UserIDs = append(n.UserIDs, u)
			}
		}
	}
	n.CreatedAt = f.tick()
	n.ExpiresAt = n.CreatedAt.Add(90 * 24 * time.Hour)
	f.notes = append(f.notes, n)
	return n, f.counts(n), nil
}

// recipients are n's users: its list, or for a broadcast every user with
// a token of the app.
func (f *fakeInbox) recipients(n *inbox.Notification) []string {
	if !n.Broadcast {
		return n.UserIDs
	}
	var users []string
	for _, t := range f.tokens {
		if t.AppID == n.AppID && !slices.Contains(users, t.UserID) {
			users = append(users, t.UserID)
		}
	}
	return users
}

func (f *fakeInbox) counts(n *inbox.Notification) inbox.Counts {
	c := inbox.Counts{}
	for _, u := range f.recipients(n) {
		c.Recipients++
		switch f.state[n.AppID+"/"+u+"/"+n.ID] {
		case inbox.StatusDelivered:
			c.Delivered++
		case inbox.StatusRead:
			c.Delivered++
			c.Read++
		}
	}
	return c
}

func (f *fakeInbox) find(appID, id string) *inbox.Notification {
	for _, n := range f.notes {
		if n.AppID == appID && n.ID == id {
			return n
		}
	}
	return nil
}

func (f *fakeInbox) Get(_ context.Context, appID, id string) (*inbox.Notification, inbox.Counts, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := f.find(appID, id); n != nil {
		return n, f.counts(n), nil
	}
	return nil, inbox.Counts{}, pushgate.NotFound("notification")
}

func (f *fakeInbox) List(_ context.Context, appID, cursor string, limit int) ([]*inbox.Notification, []inbox.Counts, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var all []*inbox.Notification
	for i := len(f.notes) - 1; i >= 0; i-- {
		if f.notes[i].AppID == appID {
			all = append(all, f.notes[i])
		}
	}
	list, next, err := page(all, cursor, limit)
	counts := make([]inbox.Counts, len(list))
	for i, n := range list {
		counts[i] = f.counts(n)
	}
	return list, counts, next, err
}

func (f *fakeInbox) Delete(_ context.Context, appID, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, n := range f.notes {
		if n.AppID == appID && n.ID == id {
			f.notes = slices.Delete(f.notes, i, i+1)
			return nil
		}
	}
	return pushgate.NotFound("notification")
}

// items are the user's live items, newest first.
func (f *fakeInbox) items(appID, userID string) []*inbox.Item {
	var out []*inbox.Item
	for i := len(f.notes) - 1; i >= 0; i-- {
		n := f.notes[i]
		if n.AppID != appID || !slices.Contains(f.recipients(n), userID) {
			continue
		}
		st := f.state[appID+"/"+userID+"/"+n.ID]
		if st == inbox.StatusDeleted {
			continue
		}
		if st == "" {
			st = inbox.StatusUnseen
		}
		out = append(out, &inbox.Item{Notification: *n, Status: st})
	}
	return out
}

func (f *fakeInbox) Inbox(_ context.Context, q inbox.Query) ([]*inbox.Item, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var all []*inbox.Item
	for _, it := range f.items(q.AppID, q.UserID) {
		read := it.Status == inbox.StatusRead
		if q.Filter == inbox.FilterUnseen && read || q.Filter == inbox.FilterSeen && !read || it.CreatedAt.Before(q.Since) {
			continue
		}
		all = append(all, it)
	}
	return page(all, q.Cursor, q.Limit)
}

func (f *fakeInbox) Item(_ context.Context, appID, userID, id string) (*inbox.Item, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, it := range f.items(appID, userID) {
		if it.ID == id {
			return it, nil
		}
	}
	return nil, pushgate.NotFound("notification")
}

var rank = map[inbox.Status]int{inbox.StatusUnseen: 0, inbox.StatusDelivered: 1, inbox.StatusRead: 2, inbox.StatusDeleted: 3}

func (f *fakeInbox) Mark(_ context.Context, appID, userID string, ids []string, status inbox.Status) ([]*inbox.Item, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var changed []*inbox.Item
	for _, it := range f.items(appID, userID) {
		if slices.Contains(ids, it.ID) && rank[status] > rank[it.Status] {
			f.state[appID+"/"+userID+"/"+it.ID] = status
			it.Status = status
			changed = append(changed, it)
		}
	}
	return changed, nil
}

func (f *fakeInbox) ReadAll(_ context.Context, appID, userID string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, it := range f.items(appID, userID) {
		if it.Status != inbox.StatusRead {
			f.state[appID+"/"+userID+"/"+it.ID] = inbox.StatusRead
			n++
		}
	}
	return n, nil
}

func (f *fakeInbox) Unseen(_ context.Context, appID, userID string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, it := range f.items(appID, userID) {
		if it.Status != inbox.StatusRead {
			n++
		}
	}
	return n, nil
}

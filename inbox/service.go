package inbox

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/pushgate/pushgate"
)

// Listener is told what changed, so that connected devices hear of it (the
// realtime hub implements it; nil: nobody is told). Calls happen after the
// change is stored.
type Listener interface {
	// Stored: n was stored; users is nil for a broadcast (every user of
	// n.AppID).
	Stored(ctx context.Context, n *Notification, users []string)
	// Changed: these users' state changed (a mark, read-all, delete); their
	// unseen count may differ now. items are the changed items (may be
	// empty for read-all).
	Changed(ctx context.Context, appID, userID string, items []*Item)
	// Retracted: n was deleted from every inbox; users is nil for a
	// broadcast.
	Retracted(ctx context.Context, n *Notification, users []string)
	// TokenRevoked: the token's open sessions must close (code 4003).
	TokenRevoked(ctx context.Context, t *Token)
}

// Options tune a Service.
type Options struct {
	Now func() time.Time // default time.Now
	// MaxAge is inbox_max_age, default 90 days: the longest life of an
	// unread notification.
	MaxAge time.Duration
	// Retention is inbox_retention, default 30 days: how long a read one
	// stays.
	Retention time.Duration
	Listener  Listener
	Logger    *slog.Logger
	// Guard judges the host of an imageUrl when it is given (nil: a guard
	// with an empty allow-list, the strictest), as for a context's images.
	Guard *pushgate.SSRFGuard
	// Images puts imageUrl on the image CDN before the notification is
	// stored (nil: the URL is kept as given).
	Images Images
	// ImageWait bounds how long Send waits for that (default
	// DefaultImageWait); past it the notification goes without its image.
	ImageWait time.Duration
}

// Defaults of Options.
const (
	DefaultMaxAge    = 90 * 24 * time.Hour
	DefaultRetention = 30 * 24 * time.Hour
	// purgeBatch is how many notifications one Store.Purge call removes.
	purgeBatch = 1000
)

// Service validates and stores notifications, tokens and users' marks,
// and tells its Listener what changed.
type Service struct {
	store     Store
	now       func() time.Time
	maxAge    time.Duration
	retention time.Duration
	log       *slog.Logger
	guard     *pushgate.SSRFGuard
	images    Images
	imageWait time.Duration
	// l holds the Listener: the hub is built after the service.
	l atomic.Pointer[Listener]
}

// NewService returns a service over store.
func NewService(store Store, opts Options) *Service {
	s := &Service{store: store, now: opts.Now, maxAge: opts.MaxAge, retention: opts.Retention, log: opts.Logger,
		guard: opts.Guard, images: opts.Images, imageWait: opts.ImageWait}
	if s.guard == nil {
		s.guard, _ = pushgate.NewSSRFGuard("")
	}
	if s.imageWait <= 0 {
		s.imageWait = DefaultImageWait
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.maxAge <= 0 {
		s.maxAge = DefaultMaxAge
	}
	if s.retention <= 0 {
		s.retention = DefaultRetention
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.SetListener(opts.Listener)
	return s
}

// SetListener sets who is told of changes (nil: nobody).
func (s *Service) SetListener(l Listener) {
	if l == nil {
		s.l.Store(nil)
		return
	}
	s.l.Store(&l)
}

func (s *Service) listener() Listener {
	if p := s.l.Load(); p != nil {
		return *p
	}
	return nil
}

// clock is now in UTC at the precision both databases keep.
func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// NewNotification is a notification as the notifications API takes it.
type NewNotification struct {
	Title    string          `json:"title"`    // ≤ 256 chars; title or message required
	Message  string          `json:"message"`  // ≤ 4096 chars
	Priority *int            `json:"priority"` // 1..10, default 5
	TTL      *int64          `json:"ttl"`      // seconds, ≥ 1; default and at most MaxAge
	Extras   json.RawMessage `json:"extras"`   // a JSON object (or absent/null), ≤ 8 KiB
	ImageURL string          `json:"imageUrl"` // absolute http(s) URL ≤ 2048, not internal, optional
	ClickURL string          `json:"clickUrl"` // absolute URL ≤ 2048, optional
	To       *Recipients     `json:"to"`       // nil: broadcast
}

// Recipients are the users of a targeted notification.
type Recipients struct {
	UserIDs []string `json:"userIds"` // 1..1000, each a valid user id; duplicates removed
}

// Send validates, puts the image on the CDN (waiting at most ImageWait;
// the notification goes without it when that fails, and ImageError says
// why), stores (one row for a broadcast), tells Listener.Stored and
// returns the notification with its counts.
func (s *Service) Send(ctx context.Context, appID string, nn NewNotification) (*Notification, Counts, error) {
	users, err := nn.validate(s.guard)
	if err != nil {
		return nil, Counts{}, err
	}
	image, failure, err := s.cdnImage(ctx, nn.ImageURL)
	if err != nil {
		return nil, Counts{}, err
	}
	now := s.clock()
	n := &Notification{ID: pushgate.NewID(), AppID: appID, Title: nn.Title, Message: nn.Message, Priority: defaultPriority,
		Extras: nn.Extras, ImageURL: image, ImageError: failure, ClickURL: nn.ClickURL, Broadcast: nn.To == nil, UserIDs: users,
		Source: SourceAPI, CreatedAt: now, ExpiresAt: s.expiry(now, nn.TTL)}
	if nn.Priority != nil {
		n.Priority = *nn.Priority
	}
	c := Counts{Recipients: len(users)}
	if n.Broadcast {
		if c.Recipients, err = s.store.CountUsers(ctx, appID); err != nil {
			return nil, Counts{}, err
		}
	}
	if err := s.store.InsertNotification(ctx, n, c); err != nil {
		return nil, Counts{}, err
	}
	if l := s.listener(); l != nil {
		l.Stored(ctx, n, n.UserIDs)
	}
	return n, c, nil
}

// expiry is now plus the ttl, or MaxAge when there is none or it is longer.
func (s *Service) expiry(now time.Time, ttl *int64) time.Time {
	if ttl == nil || *ttl > int64(s.maxAge/time.Second) {
		return now.Add(s.maxAge)
	}
	return now.Add(time.Duration(*ttl) * time.Second)
}

// SendCore stores a CORE message for its one user (n.UserIDs[0]), as
// providers/websocket does: Source core with BucketID and MessageID set.
// An empty ID, priority, creation or expiry time is filled in, and the
// expiry is held within MaxAge.
func (s *Service) SendCore(ctx context.Context, n *Notification) error {
	var fields []string
	if len(n.UserIDs) != 1 {
		fields = append(fields, "userIds: must hold the one receiver's user")
	} else if p := checkUserID(n.UserIDs[0]); p != "" {
		fields = append(fields, "userId: "+p)
	}
	for _, f := range []struct{ name, problem string }{{"title", checkText(n.Title, maxTitle)}, {"message", checkText(n.Message, maxMessage)},
		{"imageUrl", checkText(n.ImageURL, maxURL)}, {"clickUrl", checkText(n.ClickURL, maxURL)}} {
		if f.problem != "" {
			fields = append(fields, f.name+": "+f.problem)
		}
	}
	if len(fields) > 0 {
		return pushgate.Invalid("the notification is invalid", fields...)
	}
	if n.ID == "" {
		n.ID = pushgate.NewID()
	}
	if n.Priority == 0 {
		n.Priority = defaultPriority
	}
	if n.CreatedAt.IsZero() {
		n.CreatedAt = s.clock()
	}
	n.CreatedAt = n.CreatedAt.UTC().Truncate(time.Microsecond)
	if limit := n.CreatedAt.Add(s.maxAge); n.ExpiresAt.IsZero() || n.ExpiresAt.After(limit) {
		n.ExpiresAt = limit
	}
	n.ExpiresAt = n.ExpiresAt.UTC().Truncate(time.Microsecond)
	n.Broadcast, n.Source = false, SourceCore
	if err := s.store.InsertNotification(ctx, n, Counts{Recipients: 1}); err != nil {
		return err
	}
	if l := s.listener(); l != nil {
		l.Stored(ctx, n, n.UserIDs)
	}
	return nil
}

// Get returns one of the app's notifications with its counts.
func (s *Service) Get(ctx context.Context, appID, id string) (*Notification, Counts, error) {
	return s.store.GetNotification(ctx, appID, id)
}

// List pages the app's notifications, newest first, with their counts.
func (s *Service) List(ctx context.Context, appID, cursor string, limit int) ([]*Notification, []Counts, string, error) {
	limit, err := pageSize(limit)
	if err != nil {
		return nil, nil, "", err
	}
	return s.store.ListNotifications(ctx, appID, cursor, limit)
}

// Delete retracts a notification from every inbox and tells
// Listener.Retracted.
func (s *Service) Delete(ctx context.Context, appID, id string) error {
	n, err := s.store.DeleteNotification(ctx, appID, id)
	if err != nil {
		return err
	}
	if l := s.listener(); l != nil {
		l.Retracted(ctx, n, n.UserIDs)
	}
	return nil
}

// Purge is a maintenance job body: it removes expired notifications and
// takes out of inboxes what was read more than Retention ago, in batches
// until one comes back short.
func (s *Service) Purge(ctx context.Context) (int, error) {
	total := 0
	for {
		now := s.clock()
		n, err := s.store.Purge(ctx, now, now.Add(-s.retention), purgeBatch)
		total += n
		if err != nil {
			return total, fmt.Errorf("purge inbox: %w", err)
		}
		if n < purgeBatch || ctx.Err() != nil {
			if total > 0 {
				s.log.Debug("inbox purged", "notifications", total)
			}
			return total, ctx.Err()
		}
	}
}

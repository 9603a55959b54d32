package inbox

import (
	"context"
	"encoding/json"
	"time"
)

// Token is a client token: it lets one end user's browser or app read and
// act on that user's inbox and open realtime sessions. The token itself is
// shown once, when created; the store keeps its SHA-256 hash.
type Token struct {
	ID        string    `json:"id"`
	AppID     string    `json:"-"`
	UserID    string    `json:"userId"`
	Name      string    `json:"name"`
	Hash      string    `json:"-"`
	CreatedAt time.Time `json:"createdAt"`
}

// Source says what made a notification: the notifications API, or a CORE
// send through a websocket credential (then BucketID, MessageID and
// ContextID name the CORE message whose events the inbox reports).
type Source string

const (
	SourceAPI  Source = "api"
	SourceCore Source = "core"
)

// Notification is stored once, whatever its number of recipients. A
// broadcast (Broadcast true) reaches every user of the app and has no
// recipient rows; a targeted one lists its users in UserIDs (at most
// MaxRecipients).
type Notification struct {
	ID       string          `json:"id"`
	AppID    string          `json:"-"`
	Title    string          `json:"title"`
	Message  string          `json:"message"`
	Priority int             `json:"priority"`
	Extras   json.RawMessage `json:"extras,omitempty"`
	// ImageURL is where pushgate's image CDN serves the image: Send puts
	// the imageUrl it is given there first, and the CDN URLs of a CORE
	// context come with it to SendCore.
	ImageURL string `json:"imageUrl,omitempty"`
	// ImageError says why the imageUrl given to Send could not be put on
	// the CDN, so that the notification went without an image. It is the
	// sender's to know, not stored.
	ImageError string `json:"-"`
	ClickURL   string `json:"clickUrl,omitempty"`
	// Broadcast: to every user of the app, UserIDs empty.
	Broadcast bool     `json:"-"`
	UserIDs   []string `json:"-"`
	Source    Source   `json:"-"`
	// BucketID, MessageID and ContextID are set for SourceCore, with
	// UserIDs holding the one receiver's user: the CORE message and the
	// context it belongs to, which its client events (delivered, clicked)
	// name.
	BucketID  string `json:"-"`
	MessageID string `json:"-"`
	ContextID string `json:"-"`
	// ExpiresAt is CreatedAt plus the ttl, or plus inbox_max_age when no
	// ttl was given (or a longer one): an expired notification is never
	// sent and is purged.
	CreatedAt time.Time `json:"createdAt"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// Status is where one user stands with one notification. Stored, not yet
// acknowledged by any device: StatusUnseen. Acknowledged: StatusDelivered.
// Read on any device: StatusRead. Deleted from the user's inbox: it is no
// longer listed or counted. "Seen" in queries and counts means read: the
// unseen count is the number of live notifications the user has not read.
type Status string

const (
	StatusUnseen    Status = "unseen"
	StatusDelivered Status = "delivered"
	StatusRead      Status = "read"
	StatusDeleted   Status = "deleted"
)

// Item is a notification as one user's inbox shows it.
type Item struct {
	Notification
	Status      Status     `json:"status"`
	DeliveredAt *time.Time `json:"deliveredAt,omitempty"`
	ReadAt      *time.Time `json:"readAt,omitempty"`
}

// Counts aggregates a notification's per-user state. Recipients is the
// number of users it was stored for: the listed users, or for a broadcast
// the app's users that had a client token when it was sent.
type Counts struct {
	Recipients int `json:"recipients"`
	Delivered  int `json:"delivered"`
	Read       int `json:"read"`
}

// Filter selects by read state in Query: unseen (not read), seen (read) or
// all.
type Filter string

const (
	FilterUnseen Filter = "unseen"
	FilterSeen   Filter = "seen"
	FilterAll    Filter = "all"
)

// Query is a page of one user's inbox, newest first unless Oldest.
type Query struct {
	AppID  string
	UserID string
	Filter Filter
	// Since keeps notifications created at or after it (zero: no bound).
	Since time.Time
	// Cursor continues a previous page (empty: from the start).
	Cursor string
	Limit  int
	// Oldest orders oldest first: the order pending notifications are sent
	// in after a connection's hello.
	Oldest bool
	// Now: notifications expired at Now are left out.
	Now time.Time
}

// Store persists client tokens, notifications and per-user state.
//
// A broadcast is one notification row: per-user state is stored only
// where a user acted on it (acknowledged, read, deleted), and a user's
// read-all is one watermark (every notification created before it counts
// as read for that user) rather than a row per notification, so sending
// or reading all of a broadcast to a million users costs the same as to
// ten. The unseen count of a user is the number of live (unexpired,
// undeleted) notifications for the user, targeted or broadcast, that are
// not read and not under the read-all watermark; a broadcast counts for
// a user only if it was created after the user's first client token.
type Store interface {
	CreateToken(ctx context.Context, t *Token) error
	// TokenByHash finds a token by the hash of its value (not found: a
	// pushgate ENOTFOUND error).
	TokenByHash(ctx context.Context, hash string) (*Token, error)
	// ListTokens pages an app's tokens, of one user when userID is set, in
	// creation order; next is empty on the last page.
	ListTokens(ctx context.Context, appID, userID, cursor string, limit int) (_ []*Token, next string, _ error)
	// DeleteToken removes a token and returns it (not found: ENOTFOUND).
	DeleteToken(ctx context.Context, appID, id string) (*Token, error)
	// CountUsers is the number of distinct users with a client token in
	// the app, or admitted by its connectAuthUrl: a broadcast's recipients.
	CountUsers(ctx context.Context, appID string) (int, error)
	// JoinDelegated makes a user admitted by the app's connectAuthUrl one
	// of the app's users, as a first client token does (counted by
	// CountUsers, given the broadcasts created from at on); joining again
	// changes nothing. No such app: ENOTFOUND.
	JoinDelegated(ctx context.Context, appID, userID string, at time.Time) error

	// InsertNotification stores n (and its recipients when targeted) in
	// one transaction.
	InsertNotification(ctx context.Context, n *Notification, c Counts) error
	GetNotification(ctx context.Context, appID, id string) (*Notification, Counts, error)
	// ListNotifications pages an app's notifications, newest first.
	ListNotifications(ctx context.Context, appID, cursor string, limit int) (_ []*Notification, _ []Counts, next string, _ error)
	// DeleteNotification removes a notification and every user's state of
	// it, and returns it (for the users to tell).
	DeleteNotification(ctx context.Context, appID, id string) (*Notification, error)

	// Inbox pages one user's inbox.
	Inbox(ctx context.Context, q Query) (_ []*Item, next string, _ error)
	// Item is one notification of the user's inbox (not the user's, deleted
	// for the user or expired: ENOTFOUND).
	Item(ctx context.Context, appID, userID, id string, now time.Time) (*Item, error)
	// Mark moves the user's state of the notifications ids forward to
	// status (delivered, read or deleted; never backwards: a read one stays
	// read when acknowledged) at at, and returns those whose state changed.
	// Ids not in the user's live inbox are left out.
	Mark(ctx context.Context, appID, userID string, ids []string, status Status, at time.Time) ([]*Item, error)
	// ReadAll marks everything in the user's inbox created up to at as
	// read, and reports how many unread ones that was.
	ReadAll(ctx context.Context, appID, userID string, at time.Time) (int, error)
	// Unseen is the user's unseen count at now.
	Unseen(ctx context.Context, appID, userID string, now time.Time) (int, error)
	// Purge removes at most limit notifications expired at now, with every
	// user's state of them, and takes out of users' inboxes (as if deleted)
	// what they read before readBefore, read-all included; a targeted
	// notification none of whose users still has it is removed. It reports
	// how many notifications it removed.
	Purge(ctx context.Context, now, readBefore time.Time, limit int) (int, error)
}

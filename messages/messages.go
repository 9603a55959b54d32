package messages

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/recipients"
)

// Status is where a message is in its life.
type Status string

const (
	Queued  Status = "queued"  // accepted, waiting for a worker (or for its next attempt)
	Sending Status = "sending" // claimed by a worker; shown to clients as queued
	Sent    Status = "sent"    // the vendor accepted it
	Failed  Status = "failed"  // permanently failed, or out of attempts (Reason says why)
	Expired Status = "expired" // its ttl or expiresAt passed before it could be sent
)

// Public is the status clients see: "sending" is an internal detail.
func (s Status) Public() Status {
	if s == Sending {
		return Queued
	}
	return s
}

// Final reports whether nothing more will happen to a message in s.
func (s Status) Final() bool { return s == Sent || s == Failed || s == Expired }

// Message is one notification to one receiver.
type Message struct {
	ID           string
	AppID        string
	BucketID     string
	ContextID    string
	CredentialID string
	// Provider is the credential type the message goes through.
	Provider  string
	ForeignID string
	Receiver  recipients.Receiver
	// Chunk is the store's own name for the record it claimed the message
	// from, if it keeps claimed messages together (set by Claim, read by
	// Finish; empty otherwise).
	Chunk string

	Status    Status
	Reason    string // why it failed (providers.Reason words)
	LastError string // the last vendor error, for people
	Attempts  int

	CreatedAt time.Time
	UpdatedAt time.Time
	// ExpiresAt is when the message stops being worth sending (zero: never).
	ExpiresAt time.Time
	// EnqueuedAt is when a task carrying the message is due to run; the
	// recovery sweep re-enqueues queued messages long past it.
	EnqueuedAt time.Time
	// LeaseUntil is when a worker's claim on a sending message ends.
	LeaseUntil  time.Time
	SentAt      time.Time
	DeliveredAt time.Time
	ClickedAt   time.Time
	ClosedAt    time.Time
}

// Result is what a worker learned about one message.
type Result struct {
	// Message is the message as Claim returned it. A store may keep a
	// claimed message outside its table until the result, and then writes
	// it whole from this.
	Message  *Message
	Status   Status // Sent, Failed, Expired, or Queued for a retry
	Reason   string
	Error    string
	Attempts int
	At       time.Time
	// RetryAt is when a Queued result's next attempt is due.
	RetryAt time.Time
	// Rewrite marks a result handed to Finish again after a Finish that
	// held it failed: that one may have been stored all the same (an
	// error at or after its commit), so the store must look for what it
	// has of the message before storing this. A result on its first
	// write, of a message whose claim is still the latest, cannot be
	// stored already, and a store may skip that look-up (issue 18).
	Rewrite bool
}

// SendResult is the answer for one receiver of a send: the new message's
// id, or the problems that kept it from being accepted.
type SendResult struct {
	MessageID string   `json:"messageId,omitempty"`
	Errors    []string `json:"errors"`
}

// Ref locates a message for re-enqueuing.
type Ref struct {
	ID           string
	AppID        string
	BucketID     string
	ContextID    string
	CredentialID string
}

// ErrIDTaken is wrapped by Insert's error when an id, or an IDGroup a
// store keys a chunk by, is already in use: nothing was stored, and the
// same messages with new ids can be inserted again. (IDGroups made in one
// process never meet; two nodes can make the same one in the same
// millisecond.)
var ErrIDTaken = errors.New("message ids already in use")

// ErrUnstorable is wrapped by Finish's error when the database refused the
// data itself (text it cannot hold, such as a NUL character, a value too
// long, a broken constraint), as opposed to a connection or load problem:
// the same results would be refused again, and results without them may
// be stored.
var ErrUnstorable = errors.New("the database refused the data")

// Store persists messages. Claim is the only way to move a message to
// Sending, and it is atomic: of concurrent claims of one message, exactly one
// gets it. Finish only changes messages that are Sending.
//
// The message record and the webhook events share writers across the two
// stores, so that a message's fate and its event are stored together:
// Finish writes webhook events (the table of package webhooks' Store), and
// webhooks.Store.RecordClientEvents writes the delivered, clicked and
// closed times of messages (and moves a message's outbox chunk, if the
// store keeps one, into messages first). An implementation keeps both stores in one
// database.
type Store interface {
	// Insert stores new messages in one transaction. Messages whose ids
	// share a pushgate.IDGroup are one chunk, which a task will claim
	// together: storage may keep such a chunk as one record until then.
	Insert(ctx context.Context, msgs []*Message) error
	// Claim moves the queued messages among ids to Sending, leased until
	// leaseUntil, and returns them.
	Claim(ctx context.Context, ids []string, now, leaseUntil time.Time) ([]*Message, error)
	// Finish records results in bulk and, atomically with them, the
	// webhook event of each final result whose bucket has a callback: it
	// inserts into the webhook event store what webhooks.ResultEvent makes
	// of the result (sent, or failed with its reason), with the message's
	// ids and foreign id, a new event id and the result's time, skipping
	// an event the message already has. It may take a result that is not
	// a Rewrite, of a message whose claim is the latest, to be the
	// message's first: a caller that hands a result again after an error
	// must mark it (Result.Rewrite).
	Finish(ctx context.Context, results []Result) error
	// Get returns a message of an app's bucket.
	Get(ctx context.Context, appID, bucketID, id string) (*Message, error)
	// Stale returns up to limit messages a sweep must enqueue again: queued
	// ones whose task was due before dueBefore, and sending ones whose lease
	// ended before now (their worker died; they go back to queued and the
	// unknown attempt is counted).
	Stale(ctx context.Context, now, dueBefore time.Time, limit int) ([]Ref, error)
	// MarkEnqueued records that tasks for ids were enqueued, due at.
	MarkEnqueued(ctx context.Context, ids []string, at time.Time) error
}

// StorableText returns s as every store can hold it: invalid UTF-8 and
// NUL characters (which PostgreSQL refuses in text) become U+FFFD.
func StorableText(s string) string {
	if pushgate.StorableText(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// Backlog is what is left to deliver, as metrics show it.
type Backlog struct {
	// Unfinished counts messages accepted and not final yet: queued,
	// being sent, or waiting for a retry. It is counted over a bounded
	// number of rows; when Capped, there are at least that many.
	Unfinished int
	Capped     bool
	// OldestDue is the earliest time an unfinished message was (or is)
	// due to be sent; zero when there is none.
	OldestDue time.Time
}

package providers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pushgate/pushgate/buckets"
	"github.com/pushgate/pushgate/contexts"
	"github.com/pushgate/pushgate/recipients"
)

// Message is one notification to one receiver, as an adapter sees it.
type Message struct {
	ID        string
	ForeignID string
	Context   *contexts.Context
	Receiver  recipients.Receiver
	// ExpiresAt is when the message stops being worth delivering (zero: no
	// limit); adapters pass it to the vendor as TTL / expiration.
	ExpiresAt time.Time
}

// Provider sends messages through one credential. Implementations are safe
// for concurrent use and keep their connections between calls.
type Provider interface {
	// Send delivers m. It returns nil when the vendor accepted the message,
	// or an error that Classify understands.
	Send(ctx context.Context, m *Message) error
	// Close releases connections.
	Close() error
}

// BatchSender is a Provider whose vendor takes one payload for many
// receivers in one request. Delivery hands it the messages of a chunk
// (they share one context) in groups of at most MaxBatch, instead of one
// Send each.
type BatchSender interface {
	Provider
	// SendBatch sends ms and returns one error per message, in order: nil
	// when the vendor accepted that message, else an error Classify
	// understands. The adapter decides which messages can share a request.
	SendBatch(ctx context.Context, ms []*Message) []error
	// MaxBatch is the most messages one SendBatch call takes.
	MaxBatch() int
}

// Reason is why a message failed, the same words for every vendor.
type Reason string

const (
	ReasonUnregistered    Reason = "unregistered"      // the token or subscription is gone: stop using it
	ReasonInvalidToken    Reason = "invalid_token"     // malformed or for another app/topic
	ReasonPayloadTooLarge Reason = "payload_too_large" // over the vendor's limit
	ReasonBadCredentials  Reason = "bad_credentials"   // the credential was refused
	ReasonExpired         Reason = "expired"           // ttl or expiresAt passed before sending
	ReasonBadImage        Reason = "bad_image"         // an image of the context could not be fetched or decoded
	ReasonInvalidPayload  Reason = "invalid_payload"   // the vendor refused the payload's shape
	ReasonUnavailable     Reason = "unavailable"       // transient failures outlasted the retries
	ReasonRateLimited     Reason = "rate_limited"      // transient: the vendor asked us to slow down
	// ReasonForbiddenAddress: an address the tenant named (a push endpoint,
	// a token_uri) resolved to one the SSRF guard refuses; no retry helps.
	ReasonForbiddenAddress Reason = "forbidden_address"
	// ReasonUnstorable: the database refused the message's result as it
	// was (text it cannot hold, such as a NUL): it was stored with its text
	// sanitized, and will not be sent again.
	ReasonUnstorable Reason = "unstorable"
)

// Reasons is every Reason, the closed set that metrics label failures
// with.
func Reasons() []Reason {
	return []Reason{ReasonUnregistered, ReasonInvalidToken, ReasonPayloadTooLarge, ReasonBadCredentials,
		ReasonExpired, ReasonBadImage, ReasonInvalidPayload, ReasonUnavailable, ReasonRateLimited,
		ReasonForbiddenAddress, ReasonUnstorable}
}

// Known reports whether r is one of Reasons.
func (r Reason) Known() bool {
	switch r {
	case ReasonUnregistered, ReasonInvalidToken, ReasonPayloadTooLarge, ReasonBadCredentials,
		ReasonExpired, ReasonBadImage, ReasonInvalidPayload, ReasonUnavailable, ReasonRateLimited,
		ReasonForbiddenAddress, ReasonUnstorable:
		return true
	}
	return false
}

// Outcome is an adapter's classified failure.
type Outcome struct {
	Reason    Reason
	Permanent bool
	// RetryAfter is the vendor's requested wait (transient outcomes only).
	RetryAfter time.Duration
	// Status is the vendor's HTTP status, if there was one.
	Status int
	Err    error
}

func (o *Outcome) Error() string {
	kind := "transient"
	if o.Permanent {
		kind = "permanent"
	}
	msg := fmt.Sprintf("%s failure: %s", kind, o.Reason)
	if o.Status != 0 {
		msg += fmt.Sprintf(" (HTTP %d)", o.Status)
	}
	if o.Err != nil {
		msg += ": " + o.Err.Error()
	}
	return msg
}

func (o *Outcome) Unwrap() error { return o.Err }

// Permanent reports a failure that retrying cannot fix.
func Permanent(reason Reason, status int, err error) error {
	return &Outcome{Reason: reason, Permanent: true, Status: status, Err: err}
}

// Transient reports a failure worth retrying, after retryAfter if the
// vendor said so.
func Transient(reason Reason, status int, retryAfter time.Duration, err error) error {
	return &Outcome{Reason: reason, RetryAfter: retryAfter, Status: status, Err: err}
}

// Classify returns the Outcome of an error from Send. Errors adapters did
// not classify (network errors, timeouts, cancelled contexts) are transient:
// their outcome is unknown, so the message may be retried.
func Classify(err error) *Outcome {
	if err == nil {
		return nil
	}
	var o *Outcome
	if errors.As(err, &o) {
		return o
	}
	return &Outcome{Reason: ReasonUnavailable, Err: err}
}

// Factory builds a provider for a credential.
type Factory func(cred *buckets.Credential) (Provider, error)

// Checker checks, when a context is created, that it renders within the
// platform's limits for a credential of the type.
type Checker func(c *contexts.Context) error

// Registry holds, per credential type, how to build its provider and check
// contexts for it.
type Registry struct {
	factories map[buckets.CredentialType]Factory
	checkers  map[buckets.CredentialType]Checker
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{factories: map[buckets.CredentialType]Factory{}, checkers: map[buckets.CredentialType]Checker{}}
}

// Register sets the factory and checker of a credential type.
func (r *Registry) Register(t buckets.CredentialType, f Factory, c Checker) {
	r.factories[t] = f
	r.checkers[t] = c
}

// New builds a provider for cred.
func (r *Registry) New(cred *buckets.Credential) (Provider, error) {
	f, ok := r.factories[cred.Type]
	if !ok {
		return nil, fmt.Errorf("no provider for credential type %s", cred.Type)
	}
	return f(cred)
}

// Has reports whether a provider is registered for credential type t.
func (r *Registry) Has(t buckets.CredentialType) bool {
	_, ok := r.factories[t]
	return ok
}

// Check checks c against the limits of credential type t; types without a
// checker accept everything.
func (r *Registry) Check(t buckets.CredentialType, c *contexts.Context) error {
	if chk, ok := r.checkers[t]; ok && chk != nil {
		return chk(c)
	}
	return nil
}

package buckets

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/pushgate/pushgate"
)

// ServiceOptions tune a Service.
type ServiceOptions struct {
	// IdleTTL is how long an unused bucket lives (default 30 days).
	IdleTTL time.Duration
	Parse   ParseOptions
	// Supported, when set, says which credential types this server can
	// send through; buckets with others are refused at creation.
	Supported func(CredentialType) bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Checks bounds how many create requests have their credentials
	// checked at once on this node: opening a certificate or parsing a
	// key costs milliseconds of CPU, and a flood of them must leave CPU
	// for everything else. A request waits up to CheckWait (default 5 s)
	// for a slot and is then refused as unavailable. Nil means no bound.
	Checks    Semaphore
	CheckWait time.Duration
}

// Semaphore hands out a bounded number of slots. *semaphore.Weighted from
// golang.org/x/sync is one; the node shares one across its requests.
type Semaphore interface {
	Acquire(ctx context.Context, n int64) error
	Release(n int64)
}

// Service creates buckets, seals their secrets, and opens them again.
type Service struct {
	store   Store
	keyring *pushgate.Keyring
	opts    ServiceOptions
}

// NewService returns a Service over store.
func NewService(store Store, keyring *pushgate.Keyring, opts ServiceOptions) *Service {
	if opts.IdleTTL <= 0 {
		opts.IdleTTL = 30 * 24 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CheckWait <= 0 {
		opts.CheckWait = 5 * time.Second
	}
	return &Service{store: store, keyring: keyring, opts: opts}
}

// touchEvery limits how often using a bucket writes its last-use time:
// expiry is measured in days, so minutes of slack cost nothing and save a
// write per send.
const touchEvery = time.Minute

// Create parses a CORE create-bucket body, checks every credential, seals
// the secrets and stores the bucket. The returned bucket carries the
// plaintext webhook signing secret, which is not shown again.
func (s *Service) Create(ctx context.Context, appID string, body []byte) (*Bucket, error) {
	opts := s.opts.Parse
	opts.Now = s.opts.Now()
	creds, callback, err := s.check(ctx, body, opts)
	if err != nil {
		return nil, err
	}
	if s.opts.Supported != nil {
		var fields []string
		for i, c := range creds {
			if !s.opts.Supported(c.Type) {
				fields = append(fields, fmt.Sprintf("providerCredentials[%d].type: %s is not available on this server", i, c.Type))
			}
		}
		if len(fields) > 0 {
			return nil, pushgate.Invalid("bucket is invalid", fields...)
		}
	}
	now := s.opts.Now().UTC()
	b := &Bucket{ID: pushgate.NewID(), AppID: appID, Callback: callback, CreatedAt: now, LastUsedAt: now, IdleTTL: s.opts.IdleTTL}
	secret := make([]byte, 24)
	_, _ = rand.Read(secret)
	b.WebhookSecret = "whsec_" + base64.StdEncoding.EncodeToString(secret)

	cb, err := json.Marshal(callback)
	if err != nil {
		return nil, err
	}
	stored := &StoredBucket{
		ID: b.ID, AppID: appID, CreatedAt: now, LastUsedAt: now, IdleTTL: s.opts.IdleTTL,
		SealedCallback:      s.keyring.Seal(cb, []byte("bucket-callback:"+b.ID)),
		SealedWebhookSecret: s.keyring.Seal([]byte(b.WebhookSecret), []byte("bucket-webhook-secret:"+b.ID)),
		HasCallback:         callback.Type == "http",
	}
	for i, c := range creds {
		c.ID, c.BucketID = pushgate.NewID(), b.ID
		secretJSON, err := c.MarshalSecret()
		if err != nil {
			return nil, fmt.Errorf("seal credential %d: %w", i, err)
		}
		pub, _ := json.Marshal(c.Public())
		stored.Credentials = append(stored.Credentials, StoredCredential{
			ID: c.ID, BucketID: b.ID, Position: i, Type: c.Type, Public: pub,
			Sealed: s.keyring.Seal(secretJSON, []byte("credential:"+c.ID)),
		})
		b.Credentials = append(b.Credentials, &Credential{ID: c.ID, BucketID: b.ID, Type: c.Type})
		b.PublicCredentials = append(b.PublicCredentials, c.Public())
	}
	if err := s.store.CreateBucket(ctx, stored); err != nil {
		return nil, err
	}
	return b, nil
}

// check parses and checks a create request in one of the node's check
// slots.
func (s *Service) check(ctx context.Context, body []byte, opts ParseOptions) ([]*Credential, Callback, error) {
	if s.opts.Checks != nil {
		wctx, cancel := context.WithTimeout(ctx, s.opts.CheckWait)
		err := s.opts.Checks.Acquire(wctx, 1)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				// The client left (or its deadline passed) while waiting:
				// nobody reads this answer, and it is no failure of ours.
				return nil, Callback{}, &pushgate.Error{Code: pushgate.EUNAVAILABLE, Err: ctx.Err(),
					Message: "the request ended before its credentials could be checked"}
			}
			return nil, Callback{}, &pushgate.Error{Code: pushgate.EUNAVAILABLE, RetryAfter: time.Second,
				Message: "this node is checking as many bucket requests as it may at once; try again"}
		}
		defer s.opts.Checks.Release(1)
	}
	return ParseCreateRequest(body, opts)
}

// Get returns an app's live bucket with its callback, credential ids and
// types, but no credential secrets, and counts it as used.
func (s *Service) Get(ctx context.Context, appID, id string) (*Bucket, error) {
	if !pushgate.ValidID(id) {
		return nil, pushgate.NotFound("bucket")
	}
	now := s.opts.Now().UTC()
	sb, err := s.store.GetBucket(ctx, appID, id, now)
	if err != nil {
		return nil, err
	}
	b := &Bucket{ID: sb.ID, AppID: sb.AppID, CreatedAt: sb.CreatedAt, LastUsedAt: sb.LastUsedAt, IdleTTL: sb.IdleTTL}
	if b.Callback, err = s.openCallback(sb); err != nil {
		return nil, err
	}
	for _, c := range sb.Credentials {
		b.Credentials = append(b.Credentials, &Credential{ID: c.ID, BucketID: sb.ID, Type: c.Type})
		var pub Public
		if err := json.Unmarshal(c.Public, &pub); err != nil {
			return nil, err
		}
		b.PublicCredentials = append(b.PublicCredentials, pub)
	}
	if now.Sub(sb.LastUsedAt) > touchEvery {
		if err := s.store.TouchBucket(ctx, appID, id, now, now.Add(sb.IdleTTL)); err == nil {
			b.LastUsedAt = now
		}
	}
	return b, nil
}

// Credential opens one credential of a live bucket, secrets included.
func (s *Service) Credential(ctx context.Context, appID, bucketID, credID string) (*Credential, error) {
	sb, err := s.store.GetBucket(ctx, appID, bucketID, s.opts.Now().UTC())
	if err != nil {
		return nil, err
	}
	for _, c := range sb.Credentials {
		if c.ID != credID {
			continue
		}
		plain, err := s.keyring.Open(c.Sealed, []byte("credential:"+c.ID))
		if err != nil {
			return nil, &pushgate.Error{Code: pushgate.EINTERNAL, Message: "credential cannot be opened", Err: err}
		}
		cred, err := UnmarshalSecret(c.Type, plain)
		if err != nil {
			return nil, &pushgate.Error{Code: pushgate.EINTERNAL, Message: "credential cannot be decoded", Err: err}
		}
		cred.ID, cred.BucketID = c.ID, bucketID
		return cred, nil
	}
	return nil, pushgate.NotFound("credential")
}

// Delete removes a bucket, its contexts and messages.
func (s *Service) Delete(ctx context.Context, appID, id string) error {
	if !pushgate.ValidID(id) {
		return pushgate.NotFound("bucket")
	}
	return s.store.DeleteBucket(ctx, appID, id)
}

// forgetDeletedAfter is how long a deleted bucket's late messages are
// looked for: far longer than any send request takes.
const forgetDeletedAfter = time.Hour

// DeleteExpired removes buckets idle past their TTL, and messages that
// sends racing a deletion stored after it; a maintenance job.
func (s *Service) DeleteExpired(ctx context.Context) error {
	for {
		n, err := s.store.DeleteExpired(ctx, s.opts.Now().UTC(), 500)
		if err != nil {
			return err
		}
		if n < 500 {
			break
		}
	}
	_, err := s.store.PurgeDeleted(ctx, s.opts.Now().Add(-forgetDeletedAfter))
	return err
}

// CallbackOf returns a live bucket's callback and its webhook signing
// secret, without counting as a use of the bucket: delivering a bucket's
// events must not keep it alive.
func (s *Service) CallbackOf(ctx context.Context, appID, id string) (Callback, string, error) {
	sb, err := s.store.GetBucket(ctx, appID, id, s.opts.Now().UTC())
	if err != nil {
		return Callback{}, "", err
	}
	cb, err := s.openCallback(sb)
	if err != nil {
		return Callback{}, "", err
	}
	secret, err := s.keyring.Open(sb.SealedWebhookSecret, []byte("bucket-webhook-secret:"+sb.ID))
	if err != nil {
		return Callback{}, "", &pushgate.Error{Code: pushgate.EINTERNAL, Message: "bucket cannot be opened", Err: err}
	}
	return cb, string(secret), nil
}

func (s *Service) openCallback(sb *StoredBucket) (Callback, error) {
	var cb Callback
	raw, err := s.keyring.Open(sb.SealedCallback, []byte("bucket-callback:"+sb.ID))
	if err == nil {
		err = json.Unmarshal(raw, &cb)
	}
	if err != nil {
		return Callback{}, &pushgate.Error{Code: pushgate.EINTERNAL, Message: "bucket cannot be opened", Err: err}
	}
	return cb, nil
}

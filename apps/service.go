package apps

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/pushgate/pushgate"
)

// APIKeyPrefix starts every API key, so leaked keys are easy to scan for.
const APIKeyPrefix = "pgk_"

// Options tune a Service.
type Options struct {
	// AuthCacheTTL is the longest a successful API-key look-up is
	// remembered. Zero means 10 s; negative disables the cache.
	AuthCacheTTL time.Duration
	// EpochPoll is how often a started Service reads the store's auth epoch
	// (default 500 ms). A remembered key is used only while the epoch has
	// been read within the last two polls and has not moved since the key
	// was looked up, so a key revoked anywhere (another node, the CLI)
	// stops working here within 2*EpochPoll.
	EpochPoll time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger reports failures to read the auth epoch.
	Logger *slog.Logger
	// Guard judges the connectAuthUrl an app is given (nil: a zero guard,
	// which refuses every internal address).
	Guard *pushgate.SSRFGuard
}

// Service manages apps and authenticates API keys.
type Service struct {
	store   Store
	keyring *pushgate.Keyring
	now     func() time.Time
	ttl     time.Duration
	poll    time.Duration
	log     *slog.Logger
	guard   *pushgate.SSRFGuard

	mu    sync.RWMutex
	cache map[string]cachedKey // by API key hash; only keys that opened an app
	apps  map[string]cachedApp // by id or public key (appcache.go)

	// epoch is the highest auth epoch read; confirmed is the latest start
	// of a read that succeeded, in ns since base (so on the monotonic
	// clock: a wall clock set back cannot leave it in the future), 0 before
	// the first. Both only grow, so reads need no lock and may finish in
	// any order.
	epoch     atomic.Int64
	confirmed atomic.Int64
	base      time.Time

	// stop cancels the watcher's reads, in flight or to come (a second call
	// does nothing); done closes when the watcher has returned.
	stop context.CancelFunc
	done chan struct{}
}

type cachedKey struct {
	app     *App
	key     *APIKey
	epoch   int64
	expires time.Time
}

// NewService returns a Service over store, sealing secrets with keyring.
// Authenticate remembers keys only after Start.
func NewService(store Store, keyring *pushgate.Keyring, opts Options) *Service {
	s := &Service{store: store, keyring: keyring, now: opts.Now, ttl: opts.AuthCacheTTL, poll: opts.EpochPoll, log: opts.Logger, guard: opts.Guard, cache: map[string]cachedKey{}, apps: map[string]cachedApp{}}
	if s.now == nil {
		s.now = time.Now
	}
	if s.ttl == 0 {
		s.ttl = 10 * time.Second
	}
	if s.poll <= 0 {
		s.poll = 500 * time.Millisecond
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	// Before any read can start, so that every start is after it.
	s.base = s.now().Add(-time.Nanosecond)
	return s
}

// Start reads the auth epoch every EpochPoll until Shutdown, which is what
// lets Authenticate remember keys. The reads keep ctx's values but not its
// end. Without a cache it does nothing. Call it once.
func (s *Service) Start(ctx context.Context) {
	if s.ttl < 0 || s.stop != nil {
		return
	}
	ctx, s.stop = context.WithCancel(context.WithoutCancel(ctx))
	s.done = make(chan struct{})
	go s.watch(ctx)
}

// Shutdown stops the epoch reads started by Start, cancelling one in
// flight, and waits for them to end or for ctx. It may be called more than
// once.
func (s *Service) Shutdown(ctx context.Context) error {
	if s.stop == nil {
		return nil
	}
	s.stop()
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Service) watch(stop context.Context) {
	defer close(s.done)
	t := time.NewTicker(s.poll)
	defer t.Stop()
	failing := false
	for {
		ctx, cancel := context.WithTimeout(stop, 2*s.poll)
		err := s.refresh(ctx)
		cancel()
		if stop.Err() != nil {
			return
		}
		switch {
		case err != nil && !failing:
			// Until a read succeeds again every key is looked up in the
			// database, which is as safe as before and only slower.
			s.log.Warn("cannot read the auth epoch; API keys are looked up on every request", "err", err)
			failing = true
		case err == nil && failing:
			s.log.Info("auth epoch readable again")
			failing = false
		}
		select {
		case <-stop.Done():
			return
		case <-t.C:
		}
	}
}

// requestRefreshTimeout bounds the epoch read a request makes after a
// change of its own; should it fail, the watcher catches up.
const requestRefreshTimeout = time.Second

// refreshAfterChange reads the auth epoch on behalf of a request that just
// advanced it. The read outlives the request's client (the change is
// committed either way) but not requestRefreshTimeout.
func (s *Service) refreshAfterChange(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), requestRefreshTimeout)
	defer cancel()
	_ = s.refresh(ctx)
}

// refresh reads the auth epoch and forgets every remembered key when it
// moved. Reads run concurrently, with no lock held across the database
// call: since the epoch never goes down, an older read that finishes last
// is recognised by its smaller number and changes nothing.
func (s *Service) refresh(ctx context.Context) error {
	start := int64(s.now().Sub(s.base))
	e, err := s.store.AuthEpoch(ctx)
	if err != nil {
		return err
	}
	if raiseTo(&s.epoch, e) {
		s.forget(func(cachedKey) bool { return true })
		s.mu.Lock()
		clear(s.apps)
		s.mu.Unlock()
	}
	// After the epoch: a key is trusted on the strength of confirmed only
	// once the epoch it is checked against is at least what this read saw.
	raiseTo(&s.confirmed, start)
	return nil
}

// raiseTo sets v to n if n is larger, and reports whether it did.
func raiseTo(v *atomic.Int64, n int64) bool {
	for {
		old := v.Load()
		if n <= old {
			return false
		}
		if v.CompareAndSwap(old, n) {
			return true
		}
	}
}

// trusting reports whether remembered keys may be used: the epoch they are
// checked against was read recently enough to keep the 2*EpochPoll promise.
func (s *Service) trusting(now time.Time) bool {
	c := s.confirmed.Load()
	return c != 0 && now.Sub(s.base)-time.Duration(c) <= 2*s.poll
}

func validateName(what, name string, required bool) error {
	switch {
	case required && strings.TrimSpace(name) == "":
		return pushgate.Invalid(what+" is invalid", "name: is required")
	case !pushgate.StorableText(name) || utf8.RuneCountInString(name) > 100:
		return pushgate.Invalid(what+" is invalid", "name: must be at most 100 characters of UTF-8 text without NUL")
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Service) newApp(name string) (*App, *APIKey, Credentials, error) {
	if err := validateName("app", name, true); err != nil {
		return nil, nil, Credentials{}, err
	}
	app := &App{
		ID:        pushgate.NewID(),
		Name:      name,
		Key:       randomHex(10),
		Secret:    randomHex(20),
		CreatedAt: s.now().UTC(),
	}
	app.SealedSecret = s.sealSecret(app.ID, app.Secret)
	// The app's first key manages the others: there is no other way in
	// through the API.
	key, plain := s.newKey(app.ID, "default", RoleAdmin)
	return app, key, Credentials{AppID: app.ID, Name: app.Name, Key: app.Key, Secret: app.Secret, APIKey: plain}, nil
}

func (s *Service) sealSecret(appID, secret string) string {
	return s.keyring.Seal([]byte(secret), []byte("app-secret:"+appID))
}

func (s *Service) newKey(appID, name string, role Role) (*APIKey, string) {
	plain := APIKeyPrefix + pushgate.RandomToken(24)
	return &APIKey{
		ID:        pushgate.NewID(),
		AppID:     appID,
		Name:      name,
		Prefix:    plain[:len(APIKeyPrefix)+6],
		Role:      role,
		Hash:      HashAPIKey(plain),
		CreatedAt: s.now().UTC(),
	}, plain
}

// Create makes an app with a fresh key, secret and one API key, and returns
// the credentials, which are not shown again.
func (s *Service) Create(ctx context.Context, name string) (Credentials, error) {
	app, key, creds, err := s.newApp(name)
	if err != nil {
		return Credentials{}, err
	}
	if err := s.store.CreateApp(ctx, app, key); err != nil {
		return Credentials{}, err
	}
	return creds, nil
}

// CreateFirst creates the first app of a new installation. It returns the
// credentials and true only in the one call, across all processes sharing
// the database, that created it.
func (s *Service) CreateFirst(ctx context.Context, name string) (Credentials, bool, error) {
	app, key, creds, err := s.newApp(name)
	if err != nil {
		return Credentials{}, false, err
	}
	created, err := s.store.CreateFirst(ctx, app, key)
	if err != nil || !created {
		return Credentials{}, false, err
	}
	return creds, true, nil
}

// List returns every app, without secrets.
func (s *Service) List(ctx context.Context) ([]*App, error) { return s.store.ListApps(ctx) }

// Get returns an app with its secret opened.
func (s *Service) Get(ctx context.Context, id string) (*App, error) {
	app, err := s.store.GetApp(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.open(app)
}

func (s *Service) open(app *App) (*App, error) {
	secret, err := s.keyring.Open(app.SealedSecret, []byte("app-secret:"+app.ID))
	if err != nil {
		return nil, &pushgate.Error{Code: pushgate.EINTERNAL, Message: "app secret cannot be opened", Err: err}
	}
	app.Secret = string(secret)
	return app, nil
}

// RotateSecret gives the app a new secret and returns it.
func (s *Service) RotateSecret(ctx context.Context, id string) (string, error) {
	secret := randomHex(20)
	if err := s.store.SetAppSecret(ctx, id, s.sealSecret(id, secret)); err != nil {
		return "", err
	}
	s.forgetApp(id)
	return secret, nil
}

// Delete removes an app and all it owns.
func (s *Service) Delete(ctx context.Context, id string) error {
	if err := s.store.DeleteApp(ctx, id); err != nil {
		return err
	}
	s.forget(func(c cachedKey) bool { return c.app.ID == id })
	s.forgetApp(id)
	s.refreshAfterChange(ctx)
	return nil
}

// CreateKey adds an API key with the given role ("" is RoleStandard) to an
// app and returns it with its plaintext, which is not shown again.
func (s *Service) CreateKey(ctx context.Context, appID, name string, role Role) (*APIKey, string, error) {
	if err := validateName("API key", name, false); err != nil {
		return nil, "", err
	}
	if role == "" {
		role = RoleStandard
	}
	if !role.Valid() {
		return nil, "", pushgate.Invalid("API key is invalid", `role: must be "admin" or "standard"`)
	}
	key, plain := s.newKey(appID, name, role)
	if err := s.store.CreateAPIKey(ctx, key); err != nil {
		return nil, "", err
	}
	return key, plain, nil
}

// ListKeys lists an app's API keys (never their plaintext).
func (s *Service) ListKeys(ctx context.Context, appID string) ([]*APIKey, error) {
	return s.store.ListAPIKeys(ctx, appID)
}

// RevokeKey deletes an API key of appID; a key of another app is
// ENOTFOUND, and the app's last admin key is ErrLastAdmin (an app always
// keeps a key that can manage the others). A key may revoke itself.
func (s *Service) RevokeKey(ctx context.Context, appID, keyID string) error {
	return s.revoke(ctx, appID, keyID, false)
}

// ForceRevokeKey is RevokeKey that also revokes the app's last admin key.
// Only the operator's CLI offers it: the operator can always create another.
func (s *Service) ForceRevokeKey(ctx context.Context, appID, keyID string) error {
	return s.revoke(ctx, appID, keyID, true)
}

func (s *Service) revoke(ctx context.Context, appID, keyID string, allowLastAdmin bool) error {
	if err := s.store.DeleteAPIKey(ctx, appID, keyID, allowLastAdmin); err != nil {
		return err
	}
	s.forget(func(c cachedKey) bool { return c.key.ID == keyID })
	// A look-up that raced the delete may have remembered the key after
	// the forget; reading the moved epoch now drops it too.
	s.refreshAfterChange(ctx)
	return nil
}

// Authenticate returns the app an API key opens and the key (without its
// hash), or EUNAUTHORIZED. The returned app has no secret.
func (s *Service) Authenticate(ctx context.Context, apiKey string) (*App, *APIKey, error) {
	if !strings.HasPrefix(apiKey, APIKeyPrefix) || len(apiKey) > 100 {
		return nil, nil, errUnauthorized
	}
	hash := HashAPIKey(apiKey)
	now := s.now()
	if s.ttl > 0 && s.trusting(now) {
		s.mu.RLock()
		c, ok := s.cache[hash]
		s.mu.RUnlock()
		if ok && now.Before(c.expires) && c.epoch == s.epoch.Load() {
			return c.app, c.key, nil
		}
	}
	// Read before the look-up: should a revocation commit in between, the
	// entry is tagged with the epoch it precedes and is never used.
	epoch := s.epoch.Load()
	app, key, err := s.store.AppByAPIKeyHash(ctx, hash)
	if pushgate.ErrorCode(err) == pushgate.ENOTFOUND {
		return nil, nil, errUnauthorized
	}
	if err != nil {
		return nil, nil, err
	}
	app.SealedSecret = ""
	key.Hash = ""
	if s.ttl > 0 && s.trusting(now) {
		s.mu.Lock()
		if len(s.cache) > 100_000 { // only real keys get here; this is a backstop
			clear(s.cache)
		}
		s.cache[hash] = cachedKey{app: app, key: key, epoch: epoch, expires: now.Add(s.ttl)}
		s.mu.Unlock()
	}
	return app, key, nil
}

var errUnauthorized = &pushgate.Error{Code: pushgate.EUNAUTHORIZED, Message: "missing or invalid API key"}

func (s *Service) forget(match func(cachedKey) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for h, c := range s.cache {
		if match(c) {
			delete(s.cache, h)
		}
	}
}

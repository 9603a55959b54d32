package apps

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/pushgate/pushgate"
)

// APIKeyPrefix starts every API key, so leaked keys are easy to scan for.
const APIKeyPrefix = "pgk_"

// Options tune a Service.
type Options struct {
	// AuthCacheTTL is how long a successful API-key look-up is remembered.
	// A key revoked through another node stops working within this time;
	// through this node, at once. Zero means 10 s; negative disables.
	AuthCacheTTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Service manages apps and authenticates API keys.
type Service struct {
	store   Store
	keyring *pushgate.Keyring
	now     func() time.Time
	ttl     time.Duration

	mu    sync.RWMutex
	cache map[string]cachedApp // by API key hash; only keys that opened an app
}

type cachedApp struct {
	app     *App
	keyID   string
	expires time.Time
}

// NewService returns a Service over store, sealing secrets with keyring.
func NewService(store Store, keyring *pushgate.Keyring, opts Options) *Service {
	s := &Service{store: store, keyring: keyring, now: opts.Now, ttl: opts.AuthCacheTTL, cache: map[string]cachedApp{}}
	if s.now == nil {
		s.now = time.Now
	}
	if s.ttl == 0 {
		s.ttl = 10 * time.Second
	}
	return s
}

func validateName(what, name string, required bool) error {
	switch {
	case required && strings.TrimSpace(name) == "":
		return pushgate.Invalid(what+" is invalid", "name: is required")
	case !utf8.ValidString(name) || utf8.RuneCountInString(name) > 100:
		return pushgate.Invalid(what+" is invalid", "name: must be at most 100 characters of valid UTF-8")
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
	key, plain := s.newKey(app.ID, "default")
	return app, key, Credentials{AppID: app.ID, Name: app.Name, Key: app.Key, Secret: app.Secret, APIKey: plain}, nil
}

func (s *Service) sealSecret(appID, secret string) string {
	return s.keyring.Seal([]byte(secret), []byte("app-secret:"+appID))
}

func (s *Service) newKey(appID, name string) (*APIKey, string) {
	plain := APIKeyPrefix + pushgate.RandomToken(24)
	return &APIKey{
		ID:        pushgate.NewID(),
		AppID:     appID,
		Name:      name,
		Prefix:    plain[:len(APIKeyPrefix)+6],
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

// GetByKey returns the app with the given public key, its secret opened.
func (s *Service) GetByKey(ctx context.Context, publicKey string) (*App, error) {
	app, err := s.store.GetAppByKey(ctx, publicKey)
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
	return secret, nil
}

// Delete removes an app and all it owns.
func (s *Service) Delete(ctx context.Context, id string) error {
	if err := s.store.DeleteApp(ctx, id); err != nil {
		return err
	}
	s.forget(func(c cachedApp) bool { return c.app.ID == id })
	return nil
}

// CreateKey adds an API key to an app and returns it with its plaintext,
// which is not shown again.
func (s *Service) CreateKey(ctx context.Context, appID, name string) (*APIKey, string, error) {
	if err := validateName("API key", name, false); err != nil {
		return nil, "", err
	}
	key, plain := s.newKey(appID, name)
	if err := s.store.CreateAPIKey(ctx, key); err != nil {
		return nil, "", err
	}
	return key, plain, nil
}

// ListKeys lists an app's API keys (never their plaintext).
func (s *Service) ListKeys(ctx context.Context, appID string) ([]*APIKey, error) {
	return s.store.ListAPIKeys(ctx, appID)
}

// RevokeKey deletes an API key of appID; a key of another app is ENOTFOUND.
func (s *Service) RevokeKey(ctx context.Context, appID, keyID string) error {
	if err := s.store.DeleteAPIKey(ctx, appID, keyID); err != nil {
		return err
	}
	s.forget(func(c cachedApp) bool { return c.keyID == keyID })
	return nil
}

// Authenticate returns the app an API key opens, or EUNAUTHORIZED. The
// returned app has no secret.
func (s *Service) Authenticate(ctx context.Context, apiKey string) (*App, error) {
	if !strings.HasPrefix(apiKey, APIKeyPrefix) || len(apiKey) > 100 {
		return nil, errUnauthorized
	}
	hash := HashAPIKey(apiKey)
	now := s.now()
	if s.ttl > 0 {
		s.mu.RLock()
		c, ok := s.cache[hash]
		s.mu.RUnlock()
		if ok && now.Before(c.expires) {
			return c.app, nil
		}
	}
	app, keyID, err := s.store.AppByAPIKeyHash(ctx, hash)
	if pushgate.ErrorCode(err) == pushgate.ENOTFOUND {
		return nil, errUnauthorized
	}
	if err != nil {
		return nil, err
	}
	app.SealedSecret = ""
	if s.ttl > 0 {
		s.mu.Lock()
		if len(s.cache) > 100_000 { // only real keys get here; this is a backstop
			clear(s.cache)
		}
		s.cache[hash] = cachedApp{app: app, keyID: keyID, expires: now.Add(s.ttl)}
		s.mu.Unlock()
	}
	return app, nil
}

var errUnauthorized = &pushgate.Error{Code: pushgate.EUNAUTHORIZED, Message: "missing or invalid API key"}

func (s *Service) forget(match func(cachedApp) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for h, c := range s.cache {
		if match(c) {
			delete(s.cache, h)
		}
	}
}

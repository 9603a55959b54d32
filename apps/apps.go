package apps

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// App is a tenant.
type App struct {
	ID   string `json:"appId"`
	Name string `json:"name"`
	// Key is the public key browsers and apps connect with (Pusher "key").
	Key string `json:"key"`
	// Secret is the plaintext secret; only filled by the calls that say so.
	Secret string `json:"-"`
	// SealedSecret is the secret as stored.
	SealedSecret string    `json:"-"`
	CreatedAt    time.Time `json:"createdAt"`
}

// APIKey authorises calls to the REST API for one app.
type APIKey struct {
	ID    string `json:"id"`
	AppID string `json:"appId"`
	Name  string `json:"name"`
	// Prefix is the start of the key, enough to recognise it in a list.
	Prefix    string    `json:"prefix"`
	Hash      string    `json:"-"`
	CreatedAt time.Time `json:"createdAt"`
}

// Credentials is what a new app's owner is shown once.
type Credentials struct {
	AppID  string `json:"appId"`
	Name   string `json:"name"`
	Key    string `json:"key"`
	Secret string `json:"secret"`
	APIKey string `json:"apiKey"`
}

// Store persists apps and API keys. Implementations must make CreateFirst
// atomic across processes sharing the database: of any number of concurrent
// calls, at most one ever returns true.
type Store interface {
	CreateApp(ctx context.Context, app *App, key *APIKey) error
	// CreateFirst creates app and key only if no first app was ever created
	// in this database, and reports whether it did.
	CreateFirst(ctx context.Context, app *App, key *APIKey) (bool, error)
	GetApp(ctx context.Context, id string) (*App, error)
	GetAppByKey(ctx context.Context, publicKey string) (*App, error)
	ListApps(ctx context.Context) ([]*App, error)
	SetAppSecret(ctx context.Context, id, sealed string) error
	// DeleteApp deletes the app and everything that belongs to it.
	DeleteApp(ctx context.Context, id string) error

	CreateAPIKey(ctx context.Context, key *APIKey) error
	ListAPIKeys(ctx context.Context, appID string) ([]*APIKey, error)
	// DeleteAPIKey fails with ENOTFOUND unless the key belongs to appID.
	DeleteAPIKey(ctx context.Context, appID, keyID string) error
	// AppByAPIKeyHash returns the app a key hash opens and the key's id.
	AppByAPIKeyHash(ctx context.Context, hash string) (app *App, keyID string, err error)
}

// HashAPIKey is how API keys are stored. Keys carry 192 random bits, so a
// plain SHA-256 is as strong as a slow hash here and keeps look-ups cheap.
func HashAPIKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

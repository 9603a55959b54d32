package apps

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/pushgate/pushgate"
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
	// ConnectAuthURL and AllowedOrigins are the app's connection settings
	// (see Settings). Store reads by id, by public key and the list fill
	// them; AppByAPIKeyHash does not, so an app remembered with its API key
	// never answers with settings that have changed since.
	ConnectAuthURL string   `json:"connectAuthUrl"`
	AllowedOrigins []string `json:"allowedOrigins"`
	// ClientEvents is the app's Pusher setting (see Settings).
	ClientEvents bool `json:"clientEvents"`
	// CompatKeepOffline keeps notification-server pushes to a user with no
	// open session in the user's inbox (see Settings).
	CompatKeepOffline bool `json:"compatKeepOffline"`
	// ChannelWebhookURL and SubscriptionCount are Pusher settings (see
	// Settings).
	ChannelWebhookURL string `json:"channelWebhookUrl"`
	SubscriptionCount bool   `json:"subscriptionCount"`
}

// Settings are what an app's admin may change about how its users connect.
type Settings struct {
	// ConnectAuthURL, when set, authenticates realtime connections that
	// come without a client token: pushgate calls it with the connection's
	// Cookie and Authorization headers and admits the user it names.
	ConnectAuthURL string
	// AllowedOrigins are the web origins ("https://app.example") whose
	// pages may open such connections: cookies go with every request a
	// browser makes, so a page of any other origin could otherwise open a
	// session as its visitor.
	AllowedOrigins []string
	// ClientEvents lets subscribers of the app's private and presence
	// Pusher channels send client-* events to each other.
	ClientEvents bool
	// CompatKeepOffline: a push through notification-server's API is
	// stored in the user's inbox, so a user with no open session gets it
	// on the next register, where notification-server would drop it.
	CompatKeepOffline bool
	// ChannelWebhookURL, when set, receives the app's Pusher channel
	// webhooks (channel_occupied, member_added, client_event...), batched
	// and signed with the app's key and secret.
	ChannelWebhookURL string
	// SubscriptionCount sends the subscribers of the app's public and
	// private channels pusher_internal:subscription_count when their
	// channel's count changes.
	SubscriptionCount bool
}

// Role is what an API key may do. An admin key may do everything a
// standard key does and also create, list and revoke the app's API keys.
type Role string

const (
	// RoleAdmin keys manage API keys (and do everything else). The first
	// app's key and the key `pushgate apps create` prints are admin keys.
	RoleAdmin Role = "admin"
	// RoleStandard keys use the API (buckets, contexts, sends, images...)
	// but cannot see or change the app's API keys, so a leaked one cannot
	// mint keys that outlive it or revoke the keys of others.
	RoleStandard Role = "standard"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleAdmin || r == RoleStandard }

// APIKey authorises calls to the REST API for one app.
type APIKey struct {
	ID    string `json:"id"`
	AppID string `json:"appId"`
	Name  string `json:"name"`
	// Prefix is the start of the key, enough to recognise it in a list.
	Prefix    string    `json:"prefix"`
	Role      Role      `json:"role"`
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

// ErrLastAdmin is what Store.DeleteAPIKey returns, unchanged through the
// Service, when the key is its app's last admin key: an app always keeps a
// key that can manage the others. Compare with errors.Is.
var ErrLastAdmin = pushgate.Errorf(pushgate.ECONFLICT, "this is the app's last admin key: create another admin key first")

// Store persists apps and API keys. Implementations must make CreateFirst
// atomic across processes sharing the database: of any number of concurrent
// calls, at most one ever returns true.
//
// The store keeps an installation-wide auth epoch, a number that DeleteAPIKey
// and DeleteApp advance in the same transaction as their change, so every
// process sharing the database can tell, by reading one row, that a key it
// remembers may no longer open its app. It never goes down.
type Store interface {
	CreateApp(ctx context.Context, app *App, key *APIKey) error
	// CreateFirst creates app and key only if no first app was ever created
	// in this database, and reports whether it did.
	CreateFirst(ctx context.Context, app *App, key *APIKey) (bool, error)
	GetApp(ctx context.Context, id string) (*App, error)
	GetAppByKey(ctx context.Context, publicKey string) (*App, error)
	ListApps(ctx context.Context) ([]*App, error)
	// SetAppSecret replaces the app's sealed secret. It leaves the auth
	// epoch alone: what a Service remembers about a key holds no secret.
	SetAppSecret(ctx context.Context, id, sealed string) error
	// SetAppSettings replaces the app's settings (ENOTFOUND: no such app).
	SetAppSettings(ctx context.Context, id string, s Settings) error
	// DeleteApp deletes the app and everything that belongs to it, and
	// advances the auth epoch.
	DeleteApp(ctx context.Context, id string) error

	CreateAPIKey(ctx context.Context, key *APIKey) error
	ListAPIKeys(ctx context.Context, appID string) ([]*APIKey, error)
	// DeleteAPIKey deletes a key of appID and advances the auth epoch. It
	// fails with ENOTFOUND unless the key belongs to appID, and with
	// ErrLastAdmin when the key is the app's last admin key unless
	// allowLastAdmin is set. The check and the delete are one atomic step:
	// of two concurrent calls deleting an app's last two admin keys, one
	// fails, whatever the dialect. Revocations of different apps do not
	// wait for each other longer than the epoch's own update.
	DeleteAPIKey(ctx context.Context, appID, keyID string, allowLastAdmin bool) error
	// AppByAPIKeyHash returns the app a key hash opens and the key (without
	// its hash).
	AppByAPIKeyHash(ctx context.Context, hash string) (*App, *APIKey, error)
	// AuthEpoch returns the current auth epoch.
	AuthEpoch(ctx context.Context) (int64, error)
}

// HashAPIKey is how API keys are stored. Keys carry 192 random bits, so a
// plain SHA-256 is as strong as a slow hash here and keeps look-ups cheap.
func HashAPIKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

package buckets

import (
	"context"
	"time"

	"github.com/pushgate/pushgate"
)

// CredentialType names a provider credential kind, as CORE spells it.
type CredentialType string

const (
	APNSToken CredentialType = "apns_token" // .p8 key, key id, team id
	APNSCert  CredentialType = "apns_cert"  // .p12 (base64) + passphrase, or PEM cert + key
	FCMv1     CredentialType = "fcm_v1"     // Google service-account JSON
	HMS       CredentialType = "hms"        // Huawei Push Kit app id and secret
	VAPID     CredentialType = "vapid"      // Web Push VAPID key pair
	WebSocket CredentialType = "websocket"  // pushgate's own realtime provider
)

// CredentialTypes is every credential type, in a fixed order.
func CredentialTypes() []CredentialType {
	return []CredentialType{APNSToken, APNSCert, FCMv1, HMS, VAPID, WebSocket}
}

// Valid reports whether t is a known credential type.
func (t CredentialType) Valid() bool {
	switch t {
	case APNSToken, APNSCert, FCMv1, HMS, VAPID, WebSocket:
		return true
	}
	return false
}

// Platform is where notifications sent with a credential of type t go.
func (t CredentialType) Platform() pushgate.Platform {
	switch t {
	case APNSToken, APNSCert:
		return pushgate.PlatformIOS
	case FCMv1, HMS:
		return pushgate.PlatformAndroid
	case VAPID:
		return pushgate.PlatformWeb
	}
	return pushgate.PlatformWebSocket
}

// Credential is one provider credential of a bucket. Exactly one of the
// typed payloads is set, matching Type. The payloads hold secrets in
// plaintext: they exist only in memory.
type Credential struct {
	ID       string
	BucketID string
	Type     CredentialType

	APNSToken *APNSTokenCredential
	APNSCert  *APNSCertCredential
	FCM       *FCMCredential
	HMS       *HMSCredential
	VAPID     *VAPIDCredential
}

// APNSTokenCredential authenticates to APNS with a signed provider token.
type APNSTokenCredential struct {
	Key        string // the .p8 file's PEM text (PKCS#8 P-256 private key)
	KeyID      string // 10 characters
	TeamID     string // 10 characters
	Topic      string // appBundleId, or websitePushId for Safari
	Production bool
}

// APNSCertCredential authenticates to APNS with a TLS client certificate.
// After parsing, CertPEM and KeyPEM are always set, whatever the input form.
type APNSCertCredential struct {
	CertPEM    string
	KeyPEM     string
	Topic      string
	Production bool
}

// FCMCredential is a Google service account allowed to send through FCM v1.
type FCMCredential struct {
	ServiceAccountJSON []byte
	ProjectID          string
	ClientEmail        string
}

// HMSCredential is a Huawei Push Kit app: its OAuth 2.0 client id (the app
// id) and secret, and the two URLs it is used at. Both URLs are tenant
// input, checked like every URL pushgate is told to call.
type HMSCredential struct {
	AppID     string
	AppSecret string
	PushURL   string // base of {PushURL}/{AppID}/messages:send
	AuthURL   string // OAuth 2.0 token endpoint (client credentials)
}

// Huawei's public endpoints, the defaults of an hms credential.
const (
	DefaultHMSPushURL = "https://push-api.cloud.huawei.com/v1"
	DefaultHMSAuthURL = "https://oauth-login.cloud.huawei.com/oauth2/v3/token"
)

// VAPIDCredential signs Web Push requests (RFC 8292).
type VAPIDCredential struct {
	PublicKey  string // base64url, uncompressed P-256 point (65 bytes)
	PrivateKey string // base64url, 32-byte scalar
	Subject    string // mailto: or https: contact of the sender
}

// Public describes a credential without secrets, for API answers.
type Public struct {
	ID   string         `json:"id"`
	Type CredentialType `json:"type"`
	// Topic is the APNS topic (bundle id or website push id).
	Topic      string `json:"topic,omitempty"`
	Production *bool  `json:"production,omitempty"`
	// ProjectID is the FCM project.
	ProjectID string `json:"projectId,omitempty"`
	// AppID is the Huawei app (hms).
	AppID string `json:"appId,omitempty"`
	// PublicKey is the VAPID public key (browsers subscribe with it).
	PublicKey string `json:"publicKey,omitempty"`
}

// Public returns what may be shown of c.
func (c *Credential) Public() Public {
	p := Public{ID: c.ID, Type: c.Type}
	switch {
	case c.APNSToken != nil:
		p.Topic, p.Production = c.APNSToken.Topic, &c.APNSToken.Production
	case c.APNSCert != nil:
		p.Topic, p.Production = c.APNSCert.Topic, &c.APNSCert.Production
	case c.FCM != nil:
		p.ProjectID = c.FCM.ProjectID
	case c.HMS != nil:
		p.AppID = c.HMS.AppID
	case c.VAPID != nil:
		p.PublicKey = c.VAPID.PublicKey
	}
	return p
}

// Callback says where a bucket's events go (CORE's callbackConfig).
type Callback struct {
	Type    string            `json:"type"` // "http" or "none"
	URL     string            `json:"url,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	// BatchSize and FlushIntervalMs override the server's webhook batching
	// for this bucket (0: the server's setting).
	BatchSize       int `json:"batchSize,omitempty"`
	FlushIntervalMs int `json:"flushIntervalMs,omitempty"`
}

// Bucket is a group of credentials and a callback, owned by one app.
type Bucket struct {
	ID       string
	AppID    string
	Callback Callback
	// Credentials hold ID and Type; their secrets are opened one at a time
	// by Service.Credential, where a worker needs them.
	Credentials []*Credential
	// PublicCredentials describe the credentials for API answers.
	PublicCredentials []Public
	// WebhookSecret signs callbacks (Standard Webhooks); plaintext in memory.
	WebhookSecret string
	CreatedAt     time.Time
	// LastUsedAt moves on every use; the bucket expires IdleTTL after it.
	LastUsedAt time.Time
	IdleTTL    time.Duration
}

// ExpiresAt is when the bucket expires if it is not used again.
func (b *Bucket) ExpiresAt() time.Time { return b.LastUsedAt.Add(b.IdleTTL) }

// Credential returns the bucket's credential with the given id, or nil.
func (b *Bucket) Credential(id string) *Credential {
	for _, c := range b.Credentials {
		if c.ID == id {
			return c
		}
	}
	return nil
}

// StoredCredential is a credential as persisted: its secrets sealed.
type StoredCredential struct {
	ID       string
	BucketID string
	Position int
	Type     CredentialType
	// Public is the JSON of Public(), kept beside the sealed payload so
	// listings never need the master key.
	Public []byte
	// Sealed is the sealed JSON of the typed payload.
	Sealed string
}

// StoredBucket is a bucket as persisted.
type StoredBucket struct {
	ID                  string
	AppID               string
	SealedCallback      string // sealed JSON of Callback: its headers may carry secrets
	SealedWebhookSecret string
	// HasCallback is true when the callback is of type http: only then are
	// the bucket's events stored.
	HasCallback bool
	CreatedAt   time.Time
	LastUsedAt  time.Time
	IdleTTL     time.Duration
	Credentials []StoredCredential
}

// Store persists buckets. Get and Touch only see buckets of appID that have
// not expired at now.
type Store interface {
	CreateBucket(ctx context.Context, b *StoredBucket) error
	GetBucket(ctx context.Context, appID, id string, now time.Time) (*StoredBucket, error)
	// TouchBucket moves LastUsedAt to now and the expiry to expiresAt.
	TouchBucket(ctx context.Context, appID, id string, now, expiresAt time.Time) error
	DeleteBucket(ctx context.Context, appID, id string) error
	// DeleteExpired removes buckets idle past their TTL at now and reports how many.
	DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error)
	// PurgeDeleted deletes messages that sends racing a bucket's deletion
	// stored after it, and forgets buckets deleted before forgetBefore.
	PurgeDeleted(ctx context.Context, forgetBefore time.Time) (int, error)
}

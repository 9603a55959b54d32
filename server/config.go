package server

import (
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/buckets"
	"github.com/pushgate/pushgate/inbox"
	"github.com/pushgate/pushgate/internal/tracing"
	"github.com/pushgate/pushgate/webhooks"
)

// Roles a node can take.
const (
	RoleAPI    = "api"    // serve the REST and realtime APIs
	RoleWorker = "worker" // take tasks from the queue
)

// Config is everything a node needs. The zero value is not valid; start
// from Defaults.
type Config struct {
	HTTPAddr string
	// DataDir holds the embedded database, master key and other local data.
	DataDir string
	// DatabaseURL selects PostgreSQL ("postgres://...") or SQLite ("" for
	// DataDir/pushgate.db, or "sqlite:PATH").
	DatabaseURL string
	// RedisURL selects a Redis server; "" runs an embedded one in process.
	RedisURL string
	// PublicURL is how clients reach this node; "" derives it from HTTPAddr.
	PublicURL string
	// MasterKey seals secrets at rest: comma-separated 32-byte keys in base64
	// or hex, the first sealing. "" reads or creates DataDir/master.key, which
	// only an embedded (SQLite) installation may do.
	MasterKey string
	Roles     []string
	// ShutdownGrace bounds how long a shutdown waits for requests and tasks.
	ShutdownGrace time.Duration
	// MaxBodyBytes bounds request bodies.
	MaxBodyBytes int64
	AccessLog    bool

	// HTTPBodyTimeout bounds the time to receive a request body of up to
	// MaxBodyBytes; routes that take larger bodies (uploads) get
	// proportionally more. It covers the body only: requests without one
	// (streams, WebSocket upgrades) are not bounded by it.
	HTTPBodyTimeout time.Duration
	// HTTPIdleTimeout is how long an idle keep-alive connection stays open.
	HTTPIdleTimeout time.Duration

	// WorkerConcurrency is how many tasks a worker runs at once.
	WorkerConcurrency int
	// QueueNamespace prefixes queue names, so installations can share a Redis.
	QueueNamespace string
	// FirstAppName names the app created on the very first start ("" skips it).
	FirstAppName string
	// AuthCacheTTL is how long an accepted API key is remembered per node.
	AuthCacheTTL time.Duration

	// APNSHost replaces both Apple hosts (a test or proxy); its certificate
	// is checked against the system roots (SSL_CERT_FILE works).
	APNSHost string
	// APNSRootCAs, when set, replaces the system roots for APNS (embedders
	// and tests; the binary uses the system roots).
	APNSRootCAs *x509.CertPool
	// FCMEndpoint replaces the FCM v1 base URL.
	FCMEndpoint string
	// WebPushAllowHTTP accepts http:// push endpoints.
	WebPushAllowHTTP bool
	// HMSAllowHTTP accepts http:// pushUrl and authUrl in hms credentials
	// (test setups only).
	HMSAllowHTTP bool
	// SSRFAllow lists CIDR prefixes that outgoing requests to addresses
	// taken from API input (push endpoints, token_uris, webhooks, images)
	// may reach although the SSRF guard refuses them.
	SSRFAllow string
	// VAPIDSubject is the VAPID contact of credentials that name none; ""
	// derives one from an https PublicURL, else uses the project's page.
	VAPIDSubject string
	// BucketIdleTTL is how long an unused bucket lives.
	BucketIdleTTL time.Duration
	// BucketCreateRate is how many buckets one app may create a second on
	// this node (0: no limit).
	BucketCreateRate float64
	// CredentialCheckConcurrency is how many bucket requests a node checks
	// the credentials of at once (0: half the CPUs, at least 1).
	CredentialCheckConcurrency int
	// DeliveryMaxAttempts bounds tries per message.
	DeliveryMaxAttempts int
	// DeliveryChunkSize is how many messages one queue task carries.
	DeliveryChunkSize int
	// DeliveryConcurrency is how many sends one task runs at once.
	DeliveryConcurrency int
	// DeliveryLease is how long a worker holds claimed messages; after it a
	// dead worker's messages go to another.
	DeliveryLease time.Duration
	// DeliveryStaleAfter is how long past due a queued message waits before
	// the recovery sweep enqueues it again.
	DeliveryStaleAfter time.Duration
	// DeliveryResultInterval is how often a running task writes the results
	// it learned: what a crash can leave delivered but unrecorded, and so
	// sent again (docs/reliability.md).
	DeliveryResultInterval time.Duration
	// MaintenanceInterval is how often the sweep and bucket expiry run.
	MaintenanceInterval time.Duration
	// WebhookBatchSize and WebhookFlushInterval: a bucket's events are sent
	// when this many wait, or when the oldest has waited this long.
	WebhookBatchSize     int
	WebhookFlushInterval time.Duration
	// WebhookRetryFor is how long a failing batch is retried before it is
	// dead-lettered.
	WebhookRetryFor time.Duration
	// WebhookMinBackoff is the wait before a failed batch's first retry;
	// later waits double (up to an hour), with jitter.
	WebhookMinBackoff time.Duration
	// EventsRatePerIP bounds the requests a second one client address may
	// make to the public client event endpoints (0: no limit), in bursts
	// of up to EventsBurst.
	EventsRatePerIP float64
	EventsBurst     int
	// ImagesDir holds the CDN's image variants ("" is DataDir/images).
	// Nodes serving /cdn must see the folder the workers write.
	ImagesDir string
	// ImageMaxBytes and ImageMaxPixels bound a source image, fetched or
	// uploaded.
	ImageMaxBytes  int64
	ImageMaxPixels int64
	// ImageConcurrency is how many images a node decodes and resizes at
	// once (0: one per CPU).
	ImageConcurrency int
	// ImageRevalidateAfter is how long a fetched image URL is taken as
	// unchanged before it is fetched again (conditionally).
	ImageRevalidateAfter time.Duration
	// NotificationImageWait bounds how long POST /v1/notifications and
	// Notify wait for a notification's image to be on the CDN; past it the
	// notification is sent without the image.
	NotificationImageWait time.Duration
	// TrustedProxies are CIDR prefixes of reverse proxies whose
	// X-Forwarded-For names the client; with none, the client is the
	// connection's peer.
	TrustedProxies []string
	// InboxMaxAge is the longest an unread notification is kept (and the
	// ttl of one sent without a ttl); InboxRetention how long one stays
	// in a user's inbox once read.
	InboxMaxAge    time.Duration
	InboxRetention time.Duration
	// WSMaxFrameBytes bounds a client's WebSocket frame (bigger: close
	// 1009); WSHeartbeat is the ping interval, and a session that answers
	// none for two of them is closed.
	WSMaxFrameBytes int64
	WSHeartbeat     time.Duration
	// AppRatePerMinute bounds one app's requests to the notification,
	// token and inbox routes; WSConnectRate the realtime connections one
	// client address opens a second. Per node; 0 turns either off.
	AppRatePerMinute float64
	WSConnectRate    float64
	// PusherMemberLimit bounds a Pusher presence channel's members;
	// PusherClientEventRate the client events one Pusher connection sends
	// a second; PusherMaxEventBytes an event's data (client events and
	// the Pusher HTTP API).
	PusherMemberLimit     int
	PusherClientEventRate float64
	PusherMaxEventBytes   int
	// ConnectAuthCache is how long an answer of an app's connectAuthUrl is
	// remembered per node (0: never); ConnectAuthRootCAs, when set,
	// replaces the system roots for those calls (embedders and tests).
	ConnectAuthCache   time.Duration
	ConnectAuthRootCAs *x509.CertPool

	// CompatApp names (by id or name) the app whose users
	// notification-server's API and Socket.IO clients serve; "" is the
	// first app. CompatAuthToken, when set, is accepted as X-AUTH-TOKEN
	// beside that app's API keys (notification-server's AUTH_TOKEN).
	// CompatConnectionTTL is how long a registered connectionId lives
	// unused.
	CompatApp           string
	CompatAuthToken     string
	CompatConnectionTTL time.Duration

	// OTelEndpoint, when set, turns tracing on: spans go to the OTLP/HTTP
	// receiver at this http(s) URL (tracing.ParseEndpoint says which
	// forms it takes). "" makes no spans at all.
	OTelEndpoint string

	Logger *slog.Logger
}

// Defaults returns the configuration of `pushgate serve` with no settings.
func Defaults() Config {
	return Config{
		HTTPAddr:               ":8080",
		DataDir:                "./pushgate-data",
		Roles:                  []string{RoleAPI, RoleWorker},
		ShutdownGrace:          15 * time.Second,
		MaxBodyBytes:           1 << 20,
		HTTPBodyTimeout:        30 * time.Second,
		HTTPIdleTimeout:        2 * time.Minute,
		AccessLog:              true,
		WorkerConcurrency:      20,
		QueueNamespace:         "pushgate",
		FirstAppName:           "default",
		AuthCacheTTL:           10 * time.Second,
		BucketIdleTTL:          30 * 24 * time.Hour,
		BucketCreateRate:       5,
		DeliveryMaxAttempts:    8,
		DeliveryChunkSize:      500,
		DeliveryConcurrency:    64,
		DeliveryLease:          5 * time.Minute,
		DeliveryStaleAfter:     time.Minute,
		DeliveryResultInterval: 10 * time.Millisecond,
		MaintenanceInterval:    30 * time.Second,
		WebhookBatchSize:       1000,
		WebhookFlushInterval:   5 * time.Second,
		WebhookRetryFor:        24 * time.Hour,
		WebhookMinBackoff:      5 * time.Second,
		EventsRatePerIP:        50,
		EventsBurst:            200,
		ImageMaxBytes:          10 << 20,
		ImageMaxPixels:         40_000_000,
		ImageRevalidateAfter:   time.Hour,
		NotificationImageWait:  inbox.DefaultImageWait,
		InboxMaxAge:            90 * 24 * time.Hour,
		InboxRetention:         30 * 24 * time.Hour,
		WSMaxFrameBytes:        16 << 10,
		WSHeartbeat:            25 * time.Second,
		AppRatePerMinute:       600,
		WSConnectRate:          10,
		PusherMemberLimit:      100,
		PusherClientEventRate:  10,
		PusherMaxEventBytes:    10 << 10,
		ConnectAuthCache:       30 * time.Second,
		CompatConnectionTTL:    24 * time.Hour,
	}
}

// Validate reports every setting that is wrong, each by its name, in the
// order the validators below run.
func (c *Config) Validate() error {
	var errs []error
	for _, validate := range []func() []error{
		c.validateNode,
		c.validateCompat,
		c.validateHTTP,
		c.validateQueue,
		c.validateOutbound,
		c.validateBuckets,
		c.validateDelivery,
		c.validateWebhookBatches,
		c.validateEventsRate,
		c.validateImages,
		c.validateClients,
		c.validateWebhookRetries,
		c.validateMaintenance,
		c.validateRealtime,
		c.validatePusher,
		c.validateTracing,
	} {
		errs = append(errs, validate()...)
	}
	return errors.Join(errs...)
}

// validateNode checks where the node listens, keeps its data and finds
// its database, Redis and clients, its roles and its shutdown grace.
func (c *Config) validateNode() []error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		errs = append(errs, fmt.Errorf("http_addr %q: want host:port or :port", c.HTTPAddr))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir: must not be empty"))
	}
	if d := c.DatabaseURL; d != "" && !hasAnyPrefix(d, "postgres://", "postgresql://", "sqlite:", "file:") {
		errs = append(errs, errors.New("database_url: want postgres://..., postgresql://... or sqlite:PATH"))
	}
	if r := c.RedisURL; r != "" && !hasAnyPrefix(r, "redis://", "rediss://", "unix://") {
		errs = append(errs, errors.New("redis_url: want redis://..., rediss://... or unix://..."))
	}
	if p := c.PublicURL; p != "" {
		if u, err := url.Parse(p); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("public_url %q: want an absolute http(s) URL", p))
		}
	}
	if len(c.Roles) == 0 {
		errs = append(errs, errors.New("roles: name at least one of api, worker"))
	}
	for _, r := range c.Roles {
		if r != RoleAPI && r != RoleWorker {
			errs = append(errs, fmt.Errorf("roles: unknown role %q (want api, worker)", r))
		}
	}
	if c.ShutdownGrace <= 0 {
		errs = append(errs, errors.New("shutdown_grace: must be positive"))
	}
	return errs
}

// validateHTTP checks the bounds of requests and connections.
func (c *Config) validateHTTP() []error {
	var errs []error
	if c.MaxBodyBytes < 1024 {
		errs = append(errs, errors.New("max_body_bytes: must be at least 1024"))
	}
	if c.HTTPBodyTimeout < 100*time.Millisecond {
		errs = append(errs, errors.New("http_body_timeout: must be at least 100ms"))
	}
	if c.HTTPIdleTimeout < time.Second {
		errs = append(errs, errors.New("http_idle_timeout: must be at least 1s"))
	}
	return errs
}

// validateQueue checks the worker and the queue names.
func (c *Config) validateQueue() []error {
	var errs []error
	if c.WorkerConcurrency < 1 || c.WorkerConcurrency > 10000 {
		errs = append(errs, errors.New("worker_concurrency: must be between 1 and 10000"))
	}
	if c.QueueNamespace == "" || strings.ContainsAny(c.QueueNamespace, " :{}") {
		errs = append(errs, errors.New("queue_namespace: must be non-empty, without spaces, colons or braces"))
	}
	return errs
}

// validateOutbound checks what outgoing connections may reach and the
// provider endpoints that replace the vendors'.
func (c *Config) validateOutbound() []error {
	var errs []error
	if _, err := pushgate.NewSSRFGuard(c.SSRFAllow); err != nil {
		errs = append(errs, fmt.Errorf("ssrf_allow: %w", err))
	}
	if c.VAPIDSubject != "" && !buckets.ValidVAPIDSubject(c.VAPIDSubject) {
		errs = append(errs, errors.New("vapid_subject: want mailto:address or an https: URL"))
	}
	for _, e := range []struct{ name, url string }{{"apns_host", c.APNSHost}, {"fcm_endpoint", c.FCMEndpoint}} {
		if e.url == "" {
			continue
		}
		if pu, err := url.Parse(e.url); err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
			errs = append(errs, fmt.Errorf("%s %q: want an absolute http(s) URL", e.name, e.url))
		}
	}
	return errs
}

// validateBuckets checks bucket lifetimes, creation rate and credential
// checks.
func (c *Config) validateBuckets() []error {
	var errs []error
	if c.BucketIdleTTL < time.Minute {
		errs = append(errs, errors.New("bucket_idle_ttl: must be at least 1m"))
	}
	if c.BucketCreateRate < 0 {
		errs = append(errs, errors.New("bucket_create_rate: must not be negative"))
	}
	if c.CredentialCheckConcurrency < 0 {
		errs = append(errs, errors.New("credential_check_concurrency: must not be negative"))
	}
	return errs
}

// validateDelivery checks how messages are chunked, sent and recovered.
func (c *Config) validateDelivery() []error {
	var errs []error
	if c.DeliveryMaxAttempts < 1 || c.DeliveryMaxAttempts > 100 {
		errs = append(errs, errors.New("delivery_max_attempts: must be between 1 and 100"))
	}
	if c.DeliveryChunkSize < 1 || c.DeliveryChunkSize > 5000 {
		errs = append(errs, errors.New("delivery_chunk_size: must be between 1 and 5000"))
	}
	if c.DeliveryConcurrency < 1 || c.DeliveryConcurrency > 10000 {
		errs = append(errs, errors.New("delivery_concurrency: must be between 1 and 10000"))
	}
	if c.DeliveryLease < time.Second {
		errs = append(errs, errors.New("delivery_lease: must be at least 1s"))
	}
	if c.DeliveryStaleAfter < time.Second {
		errs = append(errs, errors.New("delivery_stale_after: must be at least 1s"))
	}
	if c.DeliveryResultInterval < time.Millisecond || c.DeliveryResultInterval > time.Minute {
		errs = append(errs, errors.New("delivery_result_interval: must be between 1ms and 1m"))
	}
	return errs
}

// validateWebhookBatches checks when a bucket's events are sent.
func (c *Config) validateWebhookBatches() []error {
	var errs []error
	if c.WebhookBatchSize < 1 || c.WebhookBatchSize > webhooks.MaxBatchSize {
		errs = append(errs, fmt.Errorf("webhook_batch_size: must be between 1 and %d", webhooks.MaxBatchSize))
	}
	if c.WebhookFlushInterval < 100*time.Millisecond {
		errs = append(errs, errors.New("webhook_flush_interval: must be at least 100ms"))
	}
	return errs
}

// validateEventsRate checks the rate of the public client event endpoints
// (their burst is checked with the clients, after the images).
func (c *Config) validateEventsRate() []error {
	if c.EventsRatePerIP < 0 {
		return []error{errors.New("events_rate_per_ip: must not be negative")}
	}
	return nil
}

// validateImages checks the bounds of source images and their processing.
func (c *Config) validateImages() []error {
	var errs []error
	if c.ImageMaxBytes < 1024 || c.ImageMaxBytes > 100<<20 {
		errs = append(errs, errors.New("image_max_bytes: must be between 1024 and 104857600"))
	}
	if c.ImageMaxPixels < 10_000 || c.ImageMaxPixels > 200_000_000 {
		errs = append(errs, errors.New("image_max_pixels: must be between 10000 and 200000000"))
	}
	if c.ImageConcurrency < 0 {
		errs = append(errs, errors.New("image_concurrency: must not be negative"))
	}
	if c.ImageRevalidateAfter < 0 {
		errs = append(errs, errors.New("image_revalidate_after: must not be negative"))
	}
	if c.NotificationImageWait < time.Second || c.NotificationImageWait > 5*time.Minute {
		errs = append(errs, errors.New("notification_image_wait: must be between 1s and 5m"))
	}
	return errs
}

// validateClients checks the client event burst and the proxies whose
// X-Forwarded-For names the client.
func (c *Config) validateClients() []error {
	var errs []error
	if c.EventsBurst < 1 {
		errs = append(errs, errors.New("events_burst: must be at least 1"))
	}
	for _, p := range c.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err != nil {
			if _, err := netip.ParseAddr(p); err != nil {
				errs = append(errs, fmt.Errorf("trusted_proxies: %q is not an address or CIDR prefix", p))
			}
		}
	}
	return errs
}

// validateWebhookRetries checks how a failing batch is retried.
func (c *Config) validateWebhookRetries() []error {
	var errs []error
	if c.WebhookMinBackoff < 100*time.Millisecond || c.WebhookMinBackoff > time.Hour {
		errs = append(errs, errors.New("webhook_min_backoff: must be between 100ms and 1h"))
	}
	if c.WebhookRetryFor < time.Second {
		errs = append(errs, errors.New("webhook_retry_for: must be at least 1s"))
	}
	return errs
}

// validateMaintenance checks how often the periodic jobs run.
func (c *Config) validateMaintenance() []error {
	if c.MaintenanceInterval < time.Second {
		return []error{errors.New("maintenance_interval: must be at least 1s")}
	}
	return nil
}

// Has reports whether the node takes a role.
func (c *Config) Has(role string) bool { return slices.Contains(c.Roles, role) }

func hasAnyPrefix(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// embedded reports whether the database is the embedded SQLite one.
func (c *Config) embedded() bool { return !hasAnyPrefix(c.DatabaseURL, "postgres://", "postgresql://") }

// validateRealtime checks the inbox's retention and the WebSocket bounds.
func (c *Config) validateRealtime() []error {
	var errs []error
	if c.InboxMaxAge < time.Minute {
		errs = append(errs, errors.New("inbox_max_age: must be at least 1m"))
	}
	if c.InboxRetention < time.Minute {
		errs = append(errs, errors.New("inbox_retention: must be at least 1m"))
	}
	if c.WSMaxFrameBytes < 1024 || c.WSMaxFrameBytes > 1<<20 {
		errs = append(errs, errors.New("ws_max_frame_bytes: must be between 1024 and 1048576"))
	}
	if c.ConnectAuthCache < 0 || c.ConnectAuthCache > time.Hour {
		errs = append(errs, errors.New("connect_auth_cache: must be between 0 (no cache) and 1h"))
	}
	if c.WSHeartbeat < time.Second || c.WSHeartbeat > 10*time.Minute {
		errs = append(errs, errors.New("ws_heartbeat: must be between 1s and 10m"))
	}
	if c.AppRatePerMinute < 0 {
		errs = append(errs, errors.New("app_rate_limit: must be 0 (off) or more"))
	}
	if c.WSConnectRate < 0 {
		errs = append(errs, errors.New("ws_connect_rate: must be 0 (off) or more"))
	}
	return errs
}

func (c *Config) validatePusher() []error {
	var errs []error
	if c.PusherMemberLimit < 1 || c.PusherMemberLimit > 10000 {
		errs = append(errs, errors.New("pusher_member_limit: must be between 1 and 10000"))
	}
	if c.PusherClientEventRate <= 0 {
		errs = append(errs, errors.New("pusher_client_event_rate: must be more than 0"))
	}
	if c.PusherMaxEventBytes < 1024 || c.PusherMaxEventBytes > 1<<20 {
		errs = append(errs, errors.New("pusher_max_event_bytes: must be between 1024 and 1048576"))
	}
	return errs
}

// validateTracing checks otel_endpoint. The value is not quoted: a URL
// refused for carrying credentials would print them.
func (c *Config) validateTracing() []error {
	if c.OTelEndpoint == "" {
		return nil
	}
	if _, err := tracing.ParseEndpoint(c.OTelEndpoint); err != nil {
		return []error{fmt.Errorf("otel_endpoint: %w", err)}
	}
	return nil
}

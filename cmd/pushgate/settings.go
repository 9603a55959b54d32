package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/pushgate/pushgate/server"
)

// A setting is one configuration value, read from (strongest first) its
// flag, its environment variable (or VAR_FILE for secrets), the YAML file
// given with --config, or its default.
type setting struct {
	key    string // YAML key; the flag is the key with - for _
	def    string
	help   string
	secret bool // also read from PUSHGATE_<KEY>_FILE
	// boolean settings are flags that need no value (--access-log,
	// --access-log=false).
	boolean bool
	apply   func(c *server.Config, v string) error
}

func (s setting) env() string  { return "PUSHGATE_" + strings.ToUpper(s.key) }
func (s setting) flag() string { return strings.ReplaceAll(s.key, "_", "-") }

// settings is the one list of every setting; the README table follows it
// (a test checks).
var settings = []setting{
	{key: "http_addr", def: ":8080", help: "address the HTTP server listens on",
		apply: func(c *server.Config, v string) error { c.HTTPAddr = v; return nil }},
	{key: "data_dir", def: "./pushgate-data", help: "folder for the embedded database, the generated master key and local files",
		apply: func(c *server.Config, v string) error { c.DataDir = v; return nil }},
	{key: "database_url", secret: true, help: "PostgreSQL URL (postgres://user:pass@host/db); empty uses SQLite in data_dir; sqlite:PATH for another file",
		apply: func(c *server.Config, v string) error { c.DatabaseURL = v; return nil }},
	{key: "redis_url", secret: true, help: "Redis URL (redis://host:6379/0); empty runs an embedded Redis in process",
		apply: func(c *server.Config, v string) error { c.RedisURL = v; return nil }},
	{key: "public_url", help: "URL clients reach this server at (for links and CDN URLs); empty derives it from http_addr",
		apply: func(c *server.Config, v string) error { c.PublicURL = v; return nil }},
	{key: "master_key", secret: true, help: "32-byte key (base64 or hex) sealing secrets at rest; comma-separated to rotate, new first; required with PostgreSQL, generated into data_dir otherwise",
		apply: func(c *server.Config, v string) error { c.MasterKey = v; return nil }},
	{key: "log_format", def: "text", help: "log format: text or json",
		apply: func(c *server.Config, v string) error { return oneOf(v, "text", "json") }},
	{key: "log_level", def: "info", help: "log level: debug, info, warn or error",
		apply: func(c *server.Config, v string) error { return oneOf(v, "debug", "info", "warn", "error") }},
	{key: "roles", def: "api,worker", help: "what this node runs: api, worker, or both (comma-separated)",
		apply: func(c *server.Config, v string) error { c.Roles = splitList(v); return nil }},
	{key: "shutdown_grace", def: "15s", help: "how long a shutdown waits for in-flight requests and tasks",
		apply: func(c *server.Config, v string) error { return parseDuration(v, &c.ShutdownGrace) }},
	{key: "max_body_bytes", def: "1048576", help: "largest request body accepted, in bytes",
		apply: func(c *server.Config, v string) (err error) {
			c.MaxBodyBytes, err = strconv.ParseInt(v, 10, 64)
			return err
		}},
	{key: "http_body_timeout", def: "30s", help: "time a client has to send a request body of up to max_body_bytes; larger uploads get proportionally more; a body not received in time is answered 408 and its connection closed",
		apply: func(c *server.Config, v string) error { return parseDuration(v, &c.HTTPBodyTimeout) }},
	{key: "http_idle_timeout", def: "2m", help: "how long an idle keep-alive connection stays open (keep it above the idle timeout of a load balancer in front)",
		apply: func(c *server.Config, v string) error { return parseDuration(v, &c.HTTPIdleTimeout) }},
	{key: "access_log", boolean: true, def: "true", help: "log one line per HTTP request",
		apply: func(c *server.Config, v string) (err error) { c.AccessLog, err = strconv.ParseBool(v); return err }},
	{key: "worker_concurrency", def: "20", help: "tasks a worker runs at once",
		apply: func(c *server.Config, v string) (err error) { c.WorkerConcurrency, err = strconv.Atoi(v); return err }},
	{key: "queue_namespace", def: "pushgate", help: "prefix of queue names, so installations can share one Redis",
		apply: func(c *server.Config, v string) error { c.QueueNamespace = v; return nil }},
	{key: "first_app_name", def: "default", help: "name of the app created on the very first start; empty creates none",
		apply: func(c *server.Config, v string) error { c.FirstAppName = v; return nil }},
	{key: "auth_cache_ttl", def: "10s", help: "how long a node may remember an accepted API key (a revoked key stops working on every node within a second regardless)",
		apply: func(c *server.Config, v string) error { return parseDuration(v, &c.AuthCacheTTL) }},
	{key: "apns_host", help: "replaces both Apple push hosts (a proxy or test server); its certificate is checked against the system roots (SSL_CERT_FILE); trusted configuration, reached whatever its address",
		apply: func(c *server.Config, v string) error { c.APNSHost = v; return nil }},
	{key: "fcm_endpoint", help: "replaces the FCM v1 base URL (default https://fcm.googleapis.com/v1); also lets service accounts use any http(s) token_uri, which still passes the SSRF guard unless it is this host and port",
		apply: func(c *server.Config, v string) error { c.FCMEndpoint = v; return nil }},
	{key: "webpush_allow_http", boolean: true, def: "false", help: "accept http:// Web Push endpoints (test setups only)",
		apply: func(c *server.Config, v string) (err error) {
			c.WebPushAllowHTTP, err = strconv.ParseBool(v)
			return err
		}},
	{key: "hms_allow_http", boolean: true, def: "false", help: "accept http:// pushUrl and authUrl in hms credentials (test setups only)",
		apply: func(c *server.Config, v string) (err error) {
			c.HMSAllowHTTP, err = strconv.ParseBool(v)
			return err
		}},
	{key: "ssrf_allow", help: "comma-separated CIDR prefixes that tenant-given URLs (push endpoints, FCM token_uri, callbacks, images, apps' connectAuthUrl and channelWebhookUrl) may reach although the SSRF guard refuses them (loopback, private, link-local, this host's addresses, ...)",
		apply: func(c *server.Config, v string) error { c.SSRFAllow = v; return nil }},
	{key: "vapid_subject", help: "VAPID contact (mailto:you@example.com or an https: URL of a public name) for vapid credentials that name none; empty uses https://HOST of an https public_url, else https://github.com/pushgate/pushgate (with a warning at start)",
		apply: func(c *server.Config, v string) error { c.VAPIDSubject = v; return nil }},
	{key: "bucket_idle_ttl", def: "720h", help: "how long an unused bucket lives before it expires with its contexts and messages",
		apply: func(c *server.Config, v string) error { return parseDuration(v, &c.BucketIdleTTL) }},
	{key: "bucket_create_rate", def: "5", help: "buckets one app may create a second on a node, whichever of its API keys it uses, in bursts of up to five seconds' worth (0: no limit); each bucket's credentials are checked, which costs CPU",
		apply: func(c *server.Config, v string) (err error) {
			c.BucketCreateRate, err = strconv.ParseFloat(v, 64)
			return err
		}},
	{key: "credential_check_concurrency", def: "0", help: "bucket requests a node checks the credentials of at once (0: half the CPUs, at least 1); others wait up to 5s, then get 503",
		apply: func(c *server.Config, v string) (err error) {
			c.CredentialCheckConcurrency, err = strconv.Atoi(v)
			return err
		}},
	{key: "delivery_max_attempts", def: "8", help: "tries per message before a transient failure becomes final (reason unavailable)",
		apply: func(c *server.Config, v string) (err error) { c.DeliveryMaxAttempts, err = strconv.Atoi(v); return err }},
	{key: "delivery_chunk_size", def: "500", help: "messages one queue task carries",
		apply: func(c *server.Config, v string) (err error) { c.DeliveryChunkSize, err = strconv.Atoi(v); return err }},
	{key: "delivery_concurrency", def: "64", help: "sends one queue task runs at once (times worker_concurrency per node)",
		apply: func(c *server.Config, v string) (err error) { c.DeliveryConcurrency, err = strconv.Atoi(v); return err }},
	{key: "delivery_lease", def: "5m", help: "how long a worker holds the messages it took; a dead worker's messages go to another after it",
		apply: func(c *server.Config, v string) error { return parseDuration(v, &c.DeliveryLease) }},
	{key: "delivery_stale_after", def: "1m", help: "how long past due a queued message waits before the recovery sweep enqueues it again (Redis lost it); recovery starts within this plus maintenance_interval (shorter: sooner, but messages merely waiting in a long queue are enqueued again)",
		apply: func(c *server.Config, v string) error { return parseDuration(v, &c.DeliveryStaleAfter) }},
	{key: "delivery_result_interval", def: "10ms", help: "how often a running task writes the results it learned; a crash sends again what it delivered since (shorter: fewer re-sends, more database writes)",
		apply: func(c *server.Config, v string) error { return parseDuration(v, &c.DeliveryResultInterval) }},
	{key: "maintenance_interval", def: "30s", help: "how often the recovery sweep and bucket expiry run (once per interval across all nodes); shorter: faster recovery, one more sweep query each interval",
		apply: func(c *server.Config, v string) error { return parseDuration(v, &c.MaintenanceInterval) }},
	{key: "webhook_batch_size", def: "1000", help: "events per callback POST: a bucket's (or an app's channel webhook) batch is sent when this many events wait",
		apply: func(c *server.Config, v string) (err error) { c.WebhookBatchSize, err = strconv.Atoi(v); return err }},
	{key: "webhook_flush_interval", def: "5s", help: "a bucket's (or an app's channel webhook) waiting events are sent once the oldest has waited this long",
		apply: func(c *server.Config, v string) error { return parseDuration(v, &c.WebhookFlushInterval) }},
	{key: "webhook_retry_for", def: "24h", help: "how long a callback (or channel webhook) batch that fails is retried before it is dead-lettered",
		apply: func(c *server.Config, v string) error { return parseDuration(v, &c.WebhookRetryFor) }},
	{key: "webhook_min_backoff", def: "5s", help: "wait before a failed callback batch is tried again; later waits double (up to 1h), with jitter",
		apply: func(c *server.Config, v string) error { return parseDuration(v, &c.WebhookMinBackoff) }},
	{key: "inbox_max_age", def: "2160h", help: "longest an unread notification stays in a user's inbox (and the ttl of one sent without a ttl)",
		apply: func(c *server.Config, v string) error { return parseDuration(v, &c.InboxMaxAge) }},
	{key: "inbox_retention", def: "720h", help: "how long a read notification stays in a user's inbox",
		apply: func(c *server.Config, v string) error { return parseDuration(v, &c.InboxRetention) }},
	{key: "ws_max_frame_bytes", def: "16384", help: "largest WebSocket frame a client may send; a bigger one closes the connection with 1009",
		apply: func(c *server.Config, v string) (err error) {
			c.WSMaxFrameBytes, err = strconv.ParseInt(v, 10, 64)
			return err
		}},
	{key: "ws_heartbeat", def: "25s", help: "WebSocket ping interval; a connection that answers none for two of them is closed",
		apply: func(c *server.Config, v string) error { return parseDuration(v, &c.WSHeartbeat) }},
	{key: "app_rate_limit", def: "600", help: "requests a minute one app may make to the notification, token and inbox routes, per node (0: no limit)",
		apply: func(c *server.Config, v string) (err error) {
			c.AppRatePerMinute, err = strconv.ParseFloat(v, 64)
			return err
		}},
	{key: "ws_connect_rate", def: "10", help: "realtime connections (/v1/ws, /v1/sse) one client address may open a second, per node (0: no limit)",
		apply: func(c *server.Config, v string) (err error) {
			c.WSConnectRate, err = strconv.ParseFloat(v, 64)
			return err
		}},
	{key: "pusher_member_limit", def: "100", help: "most members of one Pusher presence channel",
		apply: func(c *server.Config, v string) (err error) {
			c.PusherMemberLimit, err = strconv.Atoi(v)
			return err
		}},
	{key: "pusher_client_event_rate", def: "10", help: "client events one Pusher connection may send a second",
		apply: func(c *server.Config, v string) (err error) {
			c.PusherClientEventRate, err = strconv.ParseFloat(v, 64)
			return err
		}},
	{key: "pusher_max_event_bytes", def: "10240", help: "largest data of a Pusher event (client events and the Pusher HTTP API), in bytes",
		apply: func(c *server.Config, v string) (err error) {
			c.PusherMaxEventBytes, err = strconv.Atoi(v)
			return err
		}},
	{key: "connect_auth_cache", def: "30s", help: "how long a node remembers an answer of an app's connectAuthUrl (admitted user, or 401/403) for the same cookie and Authorization (0: ask every time)",
		apply: func(c *server.Config, v string) error { return parseDuration(v, &c.ConnectAuthCache) }},
	{key: "compat_app", help: "the app (id or name) whose users notification-server's API (/api/{userId}/...) and Socket.IO clients serve (empty: the first app)",
		apply: func(c *server.Config, v string) error { c.CompatApp = v; return nil }},
	{key: "compat_auth_token", secret: true, help: "accepted as X-AUTH-TOKEN beside the compat app's API keys: notification-server's AUTH_TOKEN (empty: API keys only; at least 16 characters)",
		apply: func(c *server.Config, v string) error { c.CompatAuthToken = v; return nil }},
	{key: "compat_connection_ttl", def: "24h", help: "how long a connectionId registered with PUT /api/{userId}/register lives unused",
		apply: func(c *server.Config, v string) error { return parseDuration(v, &c.CompatConnectionTTL) }},
	{key: "images_dir", help: "folder of the image CDN's variants (empty: DATA_DIR/images); nodes serving /cdn must share it with the workers",
		apply: func(c *server.Config, v string) error { c.ImagesDir = v; return nil }},
	{key: "image_max_bytes", def: "10485760", help: "largest source image fetched or uploaded, in bytes",
		apply: func(c *server.Config, v string) (err error) {
			c.ImageMaxBytes, err = strconv.ParseInt(v, 10, 64)
			return err
		}},
	{key: "image_max_pixels", def: "40000000", help: "largest source image decoded, in pixels (width times height)",
		apply: func(c *server.Config, v string) (err error) {
			c.ImageMaxPixels, err = strconv.ParseInt(v, 10, 64)
			return err
		}},
	{key: "image_concurrency", def: "0", help: "images a node decodes and resizes at once (0: one per CPU); each may hold up to image_max_pixels times 4 bytes",
		apply: func(c *server.Config, v string) (err error) { c.ImageConcurrency, err = strconv.Atoi(v); return err }},
	{key: "image_revalidate_after", def: "1h", help: "how long a fetched image URL is taken as unchanged; after it the URL is fetched again with If-None-Match/If-Modified-Since",
		apply: func(c *server.Config, v string) error { return parseDuration(v, &c.ImageRevalidateAfter) }},
	{key: "notification_image_wait", def: "10s", help: "how long POST /v1/notifications waits for a notification's image to be on the CDN; past it the notification is sent without the image",
		apply: func(c *server.Config, v string) error { return parseDuration(v, &c.NotificationImageWait) }},
	{key: "events_rate_per_ip", def: "50", help: "requests a second one client address may make to the public client event endpoints (0: no limit)",
		apply: func(c *server.Config, v string) (err error) {
			c.EventsRatePerIP, err = strconv.ParseFloat(v, 64)
			return err
		}},
	{key: "events_burst", def: "200", help: "requests one client address may make at once before events_rate_per_ip applies",
		apply: func(c *server.Config, v string) (err error) { c.EventsBurst, err = strconv.Atoi(v); return err }},
	{key: "trusted_proxies", help: "comma-separated addresses or CIDR prefixes of reverse proxies whose X-Forwarded-For names the client; empty: the client is the connection's peer",
		apply: func(c *server.Config, v string) error { c.TrustedProxies = splitList(v); return nil }},
	{key: "otel_endpoint", help: "OpenTelemetry tracing: the http(s) URL of an OTLP/HTTP receiver, such as a collector's http://localhost:4318 (spans go to its /v1/traces); empty: no tracing; the OTEL_* variables tune the rest",
		apply: func(c *server.Config, v string) error { c.OTelEndpoint = v; return nil }},
}

func oneOf(v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return fmt.Errorf("want one of %s", strings.Join(allowed, ", "))
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func parseDuration(v string, d *time.Duration) error {
	x, err := time.ParseDuration(v)
	if err != nil {
		return errors.New("want a duration such as 10s or 1m30s")
	}
	*d = x
	return nil
}

// settingFlags registers settings and --config on fs; resolve reads them
// back after parsing.
type settingFlags struct {
	fs     *flag.FlagSet
	values map[string]*string
	config *string
}

// storageSettings are the settings of the commands that only open the
// database (migrate, apps): every other setting still applies from the
// environment or --config, but is not one of their flags.
var storageSettings = []string{"data_dir", "database_url", "master_key"}

// addSettingFlags registers --config and the flags of the settings named
// by keys, or of every setting when there are none.
func addSettingFlags(fs *flag.FlagSet, keys ...string) *settingFlags {
	sf := &settingFlags{fs: fs, values: map[string]*string{}}
	sf.config = fs.String("config", "", "YAML file of settings (keys as in the README table); env PUSHGATE_CONFIG")
	for _, s := range settings {
		if len(keys) > 0 && !slices.Contains(keys, s.key) {
			continue
		}
		help := fmt.Sprintf("%s (env %s", s.help, s.env())
		if s.secret {
			help += " or " + s.env() + "_FILE"
		}
		help += ")"
		if s.boolean {
			v := s.def
			sf.values[s.key] = &v
			fs.Var(boolFlag{&v}, s.flag(), help)
		} else {
			sf.values[s.key] = fs.String(s.flag(), s.def, help)
		}
	}
	return sf
}

// boolFlag is a boolean setting's flag: it takes no value, and keeps it as
// text, which resolve applies like the other sources.
type boolFlag struct{ p *string }

func (f boolFlag) String() string {
	if f.p == nil {
		return "false"
	}
	return *f.p
}
func (f boolFlag) IsBoolFlag() bool { return true }
func (f boolFlag) Set(v string) error {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return errors.New("want true or false")
	}
	*f.p = strconv.FormatBool(b)
	return nil
}

// options are the resolved settings that are not part of server.Config.
type options struct {
	logFormat string
	logLevel  string
}

// resolve builds the configuration: defaults, then the YAML file, then the
// environment, then flags given on the command line.
func (sf *settingFlags) resolve(getenv func(string) string) (server.Config, options, error) {
	values := map[string]string{}
	from := map[string]string{}
	for _, s := range settings {
		values[s.key] = s.def
		from[s.key] = "default"
	}

	path := getenv("PUSHGATE_CONFIG")
	if set(sf.fs, "config") {
		path = *sf.config
	}
	if path != "" {
		fileValues, err := readConfigFile(path)
		if err != nil {
			return server.Config{}, options{}, err
		}
		for k, v := range fileValues {
			values[k] = v
			from[k] = "config file " + path
		}
	}
	for _, s := range settings {
		v, ok, err := fromEnv(s, getenv)
		if err != nil {
			return server.Config{}, options{}, err
		}
		if ok {
			values[s.key] = v
			from[s.key] = "env " + s.env()
		}
		if sf.values[s.key] != nil && set(sf.fs, s.flag()) {
			values[s.key] = *sf.values[s.key]
			from[s.key] = "flag --" + s.flag()
		}
	}

	cfg := server.Defaults()
	for _, s := range settings {
		if err := s.apply(&cfg, values[s.key]); err != nil {
			return server.Config{}, options{}, fmt.Errorf("setting %s (from %s): %q: %v", s.key, from[s.key], redactIf(s, values[s.key]), err)
		}
	}
	if err := cfg.Validate(); err != nil {
		return server.Config{}, options{}, fmt.Errorf("invalid configuration: %w", err)
	}
	return cfg, options{logFormat: values["log_format"], logLevel: values["log_level"]}, nil
}

func redactIf(s setting, v string) string {
	if s.secret && v != "" {
		return "(secret)"
	}
	return v
}

func set(fs *flag.FlagSet, name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			found = true
		}
	})
	return found
}

func fromEnv(s setting, getenv func(string) string) (string, bool, error) {
	v := getenv(s.env())
	if s.secret {
		if file := getenv(s.env() + "_FILE"); file != "" {
			if v != "" {
				return "", false, fmt.Errorf("setting %s: both %s and %s_FILE are set; use one", s.key, s.env(), s.env())
			}
			b, err := os.ReadFile(file)
			if err != nil {
				return "", false, fmt.Errorf("setting %s: %s_FILE: %w", s.key, s.env(), err)
			}
			return strings.TrimRight(string(b), "\r\n"), true, nil
		}
	}
	return v, v != "", nil
}

// readConfigFile reads a flat YAML mapping of setting keys to values.
func readConfigFile(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	var raw map[string]any
	if err := yaml.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	known := map[string]bool{}
	for _, s := range settings {
		known[s.key] = true
	}
	out := map[string]string{}
	var unknown []string
	for k, v := range raw {
		if !known[k] {
			unknown = append(unknown, k)
			continue
		}
		switch x := v.(type) {
		case nil:
			out[k] = ""
		case []any:
			parts := make([]string, len(x))
			for i, p := range x {
				parts[i] = fmt.Sprint(p)
			}
			out[k] = strings.Join(parts, ",")
		case map[string]any:
			return nil, fmt.Errorf("config file %s: setting %s: want a single value, not a mapping", path, k)
		default:
			out[k] = fmt.Sprint(x)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("config file %s: unknown settings: %s", path, strings.Join(unknown, ", "))
	}
	return out, nil
}

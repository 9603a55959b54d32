package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/semaphore"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/apps"
	"github.com/pushgate/pushgate/buckets"
	"github.com/pushgate/pushgate/contexts"
	"github.com/pushgate/pushgate/delivery"
	"github.com/pushgate/pushgate/httpapi"
	"github.com/pushgate/pushgate/imagecdn"
	"github.com/pushgate/pushgate/internal/conns"
	"github.com/pushgate/pushgate/providers"
	"github.com/pushgate/pushgate/providers/apns"
	"github.com/pushgate/pushgate/providers/fcm"
	"github.com/pushgate/pushgate/providers/webpush"
	"github.com/pushgate/pushgate/recipients"
	"github.com/pushgate/pushgate/storage/sqlstore"
	"github.com/pushgate/pushgate/webhooks"
)

// Server is one pushgate node.
type Server struct {
	cfg Config
	log *slog.Logger

	DB       *sqlstore.DB
	Apps     *apps.Service
	Buckets  *buckets.Service
	Sender   *delivery.Sender
	Queue    *delivery.Queue
	Registry *prometheus.Registry
	// Providers builds provider clients per credential type.
	Providers *providers.Registry

	embedded    *embeddedRedis
	redis       redis.UniversalClient
	recorder    *webhooks.Recorder
	flusher     *webhooks.Flusher
	dispatcher  *webhooks.Dispatcher
	images      *imageService
	worker      *delivery.Worker
	deliverer   *delivery.Deliverer
	maintenance *delivery.Maintenance
	handler     *httpapi.Handler
	http        *http.Server
	ln          net.Listener

	// conns are the long-lived connections (WebSocket, SSE) that
	// http.Server.Shutdown does not end; the realtime routes track theirs.
	conns conns.Registry

	firstApp    apps.Credentials
	firstAppNew bool
}

// New opens storage and the queue, applies migrations and creates the
// first app if this is a new installation. It starts nothing; call Start.
func New(ctx context.Context, cfg Config) (_ *Server, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			s.close()
		}
	}()

	keyring, err := cfg.keyring()
	if err != nil {
		return nil, err
	}
	s.DB, err = sqlstore.Open(ctx, cfg.DatabaseURL, sqlstore.Options{DataDir: cfg.DataDir})
	if err != nil {
		return nil, fmt.Errorf("database_url: %w", err)
	}
	if n, err := s.DB.Migrate(ctx); err != nil {
		return nil, err
	} else if n > 0 {
		log.Info("applied database migrations", "count", n)
	}
	s.Apps = apps.NewService(s.DB.Apps(), keyring, apps.Options{AuthCacheTTL: cfg.AuthCacheTTL, Logger: log})
	if cfg.FirstAppName != "" {
		s.firstApp, s.firstAppNew, err = s.Apps.CreateFirst(ctx, cfg.FirstAppName)
		if err != nil {
			return nil, fmt.Errorf("create first app: %w", err)
		}
	}

	redisURL := cfg.RedisURL
	if redisURL == "" {
		if s.embedded, err = startEmbeddedRedis(); err != nil {
			return nil, err
		}
		redisURL = s.embedded.URL()
	}
	redisOpt, err := asynq.ParseRedisURI(redisURL)
	if err != nil {
		return nil, fmt.Errorf("redis_url: %w", err)
	}
	s.redis = delivery.RedisClient(redisOpt)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.redis.Ping(pctx).Err(); err != nil {
		return nil, fmt.Errorf("redis_url: connect to %s: %w", redactRedis(cfg.RedisURL), err)
	}
	s.Queue = delivery.NewQueue(delivery.QueueOptions{Redis: redisOpt, Namespace: cfg.QueueNamespace})

	// The one guard of every connection a tenant can steer. APNS
	// connections go only to apns_host or Apple, unguarded. The FCM
	// endpoint the operator configured is not tenant input, and a service
	// account may name it as its token_uri (a fake, a proxy): only the FCM
	// provider and the token_uri check trust it, never images, callbacks
	// or push endpoints.
	guard, _ := pushgate.NewSSRFGuard(cfg.SSRFAllow) // checked by Validate
	vapidSubject, _ := cfg.vapidSubject()
	s.Providers = providers.NewRegistry()
	apns.Register(s.Providers, apns.Options{Host: cfg.APNSHost, RootCAs: cfg.APNSRootCAs})
	fcm.Register(s.Providers, fcm.Options{Endpoint: cfg.FCMEndpoint, Guard: guard})
	webpush.Register(s.Providers, webpush.Options{Guard: guard, DefaultSubject: vapidSubject})
	checks := cfg.CredentialCheckConcurrency
	if checks == 0 {
		// Half the CPUs: the rest serve every other request.
		checks = max(1, runtime.GOMAXPROCS(0)/2)
	}
	s.Buckets = buckets.NewService(s.DB.Buckets(), keyring, buckets.ServiceOptions{
		IdleTTL:   cfg.BucketIdleTTL,
		Checks:    semaphore.NewWeighted(int64(checks)),
		Supported: s.Providers.Has,
		// A replaced FCM endpoint means a test or on-premise setup, whose
		// token endpoint may be plain HTTP too.
		Parse: buckets.ParseOptions{DefaultVAPIDSubject: vapidSubject, AllowHTTPTokenURI: cfg.FCMEndpoint != "",
			Guard: guard, TokenURIGuard: guard.Trusting(cfg.FCMEndpoint)},
	})
	dopts := delivery.Options{
		ChunkSize:   cfg.DeliveryChunkSize,
		MaxAttempts: cfg.DeliveryMaxAttempts,
		Concurrency: cfg.DeliveryConcurrency,
		Lease:       cfg.DeliveryLease,
		StaleAfter:  cfg.DeliveryStaleAfter,
		Recipients:  recipients.Options{AllowHTTPEndpoints: cfg.WebPushAllowHTTP, Guard: guard},
		Logger:      log,
	}
	imagesDir := cfg.ImagesDir
	if imagesDir == "" {
		imagesDir = filepath.Join(cfg.DataDir, "images")
	}
	imageStore, err := imagecdn.NewDirStore(imagesDir)
	if err != nil {
		return nil, fmt.Errorf("images_dir: %w", err)
	}
	s.images = &imageService{s: s, store: imageStore, log: log, opts: imagecdn.Options{
		Store:       imageStore,
		Fetch:       imagecdn.FetchOptions{Guard: guard, RevalidateAfter: cfg.ImageRevalidateAfter, Cache: s.DB.ImageSources()},
		Limits:      imagecdn.Limits{MaxBytes: cfg.ImageMaxBytes, MaxPixels: cfg.ImageMaxPixels},
		Concurrency: cfg.ImageConcurrency,
		Logger:      log,
	}}
	dopts.ImagesPending = func(ctx context.Context, c *contexts.Context) {
		if err := s.images.ProcessContext(ctx, c); err != nil {
			log.Warn("image processing not enqueued", "context", c.ID, "err", err)
		}
	}
	s.Sender = delivery.NewSender(s.DB.Messages(), s.Queue, dopts)
	s.recorder = webhooks.NewRecorder(s.DB.Webhooks(), webhooks.RecorderOptions{Logger: log})
	// The dispatcher also serves the API's batch listing and redelivery;
	// only worker nodes start it.
	targets := webhooks.TargetsFunc(s.webhookTarget)
	s.dispatcher, err = webhooks.NewDispatcher(s.DB.Webhooks(), targets, &http.Client{Transport: guard.Transport()},
		webhooks.DispatcherOptions{RetryFor: cfg.WebhookRetryFor, MinBackoff: cfg.WebhookMinBackoff, Logger: log})
	if err != nil {
		return nil, err
	}
	if cfg.Has(RoleWorker) {
		s.flusher = webhooks.NewFlusher(s.DB.Webhooks(), targets, webhooks.FlusherOptions{
			BatchSize: cfg.WebhookBatchSize, FlushAfter: cfg.WebhookFlushInterval, OnBatch: s.dispatcher.Notify, Logger: log,
		})
		s.worker = delivery.NewWorker(delivery.WorkerOptions{
			Redis:           redisOpt,
			Namespace:       cfg.QueueNamespace,
			Concurrency:     cfg.WorkerConcurrency,
			ShutdownTimeout: cfg.ShutdownGrace,
			Logger:          log,
		})
		s.deliverer = delivery.NewDeliverer(s.Sender, s.DB.Messages(), s.DB.Buckets(), s.Buckets, s.Providers, dopts)
		s.worker.Handle(delivery.TypeSend, s.deliverer)
		s.worker.Handle(taskImages, s.images)
		s.maintenance = delivery.NewMaintenance(s.Queue, cfg.MaintenanceInterval, log,
			[]delivery.Job{
				{Name: "recovery sweep", Run: func(ctx context.Context) error {
					n, err := s.Sender.Sweep(ctx)
					if n > 0 {
						log.Info("recovery sweep enqueued messages again", "count", n)
					}
					return err
				}},
				{Name: "bucket expiry", Run: s.Buckets.DeleteExpired},
				s.images.recover(cfg.DeliveryStaleAfter),
				{Name: "image source expiry", Run: func(ctx context.Context) error {
					// What a URL returned is a hint for revalidation; after
					// a month the URL is simply fetched again.
					_, err := s.DB.ImageSources().Forget(ctx, time.Now().Add(-30*24*time.Hour))
					return err
				}},
			},
			[]delivery.Job{s.deliverer.CloseIdleProviders(10 * time.Minute)},
		)
		s.worker.Handle(delivery.TypeMaintenance, s.maintenance)
	}

	s.Registry = prometheus.NewRegistry()
	s.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.handler = httpapi.New(httpapi.Options{
		Logger:       log,
		Registry:     s.Registry,
		Apps:         s.Apps,
		MaxBodyBytes: cfg.MaxBodyBytes,
		BodyTimeout:  cfg.HTTPBodyTimeout,
		AccessLog:    cfg.AccessLog,
		API:          cfg.Has(RoleAPI),
		Core: httpapi.CoreOptions{
			Buckets:          s.Buckets,
			Contexts:         s.DB.Buckets(),
			Checker:          s.Providers,
			Sender:           s.Sender,
			Messages:         s.DB.Messages(),
			Webhooks:         s.dispatcher,
			Images:           s.images,
			Parse:            contexts.Options{Guard: guard},
			BucketCreateRate: cfg.BucketCreateRate,
		},
		Events:         httpapi.EventOptions{Recorder: s.recorder, RatePerIP: cfg.EventsRatePerIP, Burst: cfg.EventsBurst},
		TrustedProxies: cfg.TrustedProxies,
		Ready: []httpapi.Check{
			{Name: "database", Func: func(ctx context.Context) error { return s.DB.PingContext(ctx) }},
			{Name: "migrations", Func: func(ctx context.Context) error {
				pending, err := s.DB.Pending(ctx)
				if err == nil && pending {
					err = errors.New("migrations are pending; run `pushgate migrate up`")
				}
				return err
			}},
			{Name: "redis", Func: func(ctx context.Context) error { return s.redis.Ping(ctx).Err() }},
		},
	})
	s.http = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		// No ReadTimeout or WriteTimeout: they would cut streams and
		// WebSockets. The body is bounded per request (http_body_timeout).
		IdleTimeout:    cfg.HTTPIdleTimeout,
		MaxHeaderBytes: maxHeaderBytes,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// maxHeaderBytes bounds a request's line and headers (net/http's default
// is 1 MiB). pushgate's clients send an API key and a few standard
// headers; 64 KiB leaves room for cookies and tracing headers that
// proxies add. A request over it is answered 431 by net/http, in plain
// text: it is refused before any handler runs.
const maxHeaderBytes = 64 << 10

// FirstApp returns the credentials of the app this start created, if it
// created the installation's first app.
func (s *Server) FirstApp() (apps.Credentials, bool) { return s.firstApp, s.firstAppNew }

// Start listens on the configured address and starts the worker.
func (s *Server) Start(ctx context.Context) error {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", s.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("http_addr: %w", err)
	}
	s.ln = ln
	// Remembered API keys are used only while this runs: it is what makes
	// a revocation anywhere reach this node within a second.
	s.Apps.Start()
	s.recorder.Start()
	if s.worker != nil {
		if err := s.worker.Start(); err != nil {
			ln.Close()
			return fmt.Errorf("start worker: %w", err)
		}
		s.maintenance.Start()
		s.flusher.Start()
		s.dispatcher.Start()
	}
	go func() {
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server stopped", "err", err)
		}
	}()
	queue := "redis " + redactRedis(s.cfg.RedisURL)
	if s.embedded != nil {
		queue = "embedded redis (in process)"
	}
	s.log.Info("pushgate listening",
		"addr", ln.Addr().String(),
		"url", s.URL(),
		"database", string(s.DB.Dialect)+" "+s.DB.Where,
		"queue", queue,
		"roles", strings.Join(s.cfg.Roles, ","),
		"version", pushgate.Version)
	s.logVAPIDSubject()
	return nil
}

// Addr is the address the node listens on (after Start).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is how clients reach the node: PublicURL, or one derived from the
// listening address.
func (s *Server) URL() string {
	if s.cfg.PublicURL != "" {
		return strings.TrimRight(s.cfg.PublicURL, "/")
	}
	host, port, _ := net.SplitHostPort(s.cfg.HTTPAddr)
	if s.ln != nil {
		_, port, _ = net.SplitHostPort(s.ln.Addr().String())
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// Handler is the node's HTTP handler, for embedding in another server.
func (s *Server) Handler() http.Handler { return s.handler }

// Shutdown stops the node in order: readiness fails at once, the listener
// closes and in-flight requests finish, running tasks finish (both within
// the grace period or ctx, whichever ends first), then connections close.
// Long-lived connections (WebSocket, SSE) are ended as soon as the
// listener is closed, and waited for with the in-flight requests.
func (s *Server) Shutdown(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ShutdownGrace)
	defer cancel()
	s.handler.SetDraining(true)
	var errs []error
	if s.ln != nil {
		// Long-lived connections are told to end once the listener is
		// closed: http.Server.Shutdown would wait for streams and never
		// sees hijacked connections.
		s.http.RegisterOnShutdown(func() { _ = s.conns.Shutdown(ctx) })
		if err := s.http.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http shutdown: %w", err))
		}
	}
	errs = append(errs, s.conns.Shutdown(ctx))
	if s.worker != nil && s.ln != nil {
		s.maintenance.Shutdown()
		s.worker.Shutdown()
		s.deliverer.Close()
	}
	// Events recorded by the last tasks are stored before the flusher and
	// dispatcher stop; whatever they leave is in the database for later.
	if s.ln != nil {
		if err := s.recorder.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
		errs = append(errs, s.Apps.Shutdown(ctx))
		if s.flusher != nil {
			errs = append(errs, s.flusher.Shutdown(ctx), s.dispatcher.Shutdown(ctx))
		}
	}
	s.close()
	return errors.Join(errs...)
}

// close releases connections in reverse order of opening.
func (s *Server) close() {
	if s.Queue != nil {
		s.Queue.Close()
	}
	if s.redis != nil {
		s.redis.Close()
	}
	if s.embedded != nil {
		s.embedded.Close()
	}
	if s.DB != nil {
		s.DB.Close()
	}
}

func redactRedis(raw string) string {
	if raw == "" {
		return "(embedded)"
	}
	return pushgate.RedactURL(raw)
}

// OpenApps opens just the database (migrating it) and the app service, for
// management commands that run beside the nodes.
func OpenApps(ctx context.Context, cfg Config) (*apps.Service, func(), error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	keyring, err := cfg.keyring()
	if err != nil {
		return nil, nil, err
	}
	db, err := sqlstore.Open(ctx, cfg.DatabaseURL, sqlstore.Options{DataDir: cfg.DataDir})
	if err != nil {
		return nil, nil, fmt.Errorf("database_url: %w", err)
	}
	if _, err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, nil, err
	}
	return apps.NewService(db.Apps(), keyring, apps.Options{AuthCacheTTL: -1}), func() { db.Close() }, nil
}

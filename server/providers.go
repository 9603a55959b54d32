package server

import (
	"runtime"

	"golang.org/x/sync/semaphore"

	"github.com/pushgate/pushgate/buckets"
	"github.com/pushgate/pushgate/providers"
	"github.com/pushgate/pushgate/providers/apns"
	"github.com/pushgate/pushgate/providers/fcm"
	"github.com/pushgate/pushgate/providers/hms"
	"github.com/pushgate/pushgate/providers/webpush"
	"github.com/pushgate/pushgate/providers/websocket"
)

// buildProviders registers the provider of each credential type (the
// websocket one stores into the inbox buildRealtime built) and builds the
// bucket service, which checks credentials against them.
func (s *Server) buildProviders() {
	cfg := s.cfg
	s.Providers = s.pushProviders()
	websocket.Register(s.Providers, s.Inbox)
	checks := cfg.CredentialCheckConcurrency
	if checks == 0 {
		// Half the CPUs: the rest serve every other request.
		checks = max(1, runtime.GOMAXPROCS(0)/2)
	}
	s.Buckets = buckets.NewService(s.DB.Buckets(), s.keyring, buckets.ServiceOptions{
		IdleTTL:   cfg.BucketIdleTTL,
		Checks:    semaphore.NewWeighted(int64(checks)),
		Supported: s.Providers.Has,
		Now:       s.now,
		Parse:     s.credentialOptions(),
	})
}

// pushProviders is a registry of the native push providers (APNS, FCM,
// HMS, Web Push) as the configuration sets them up; the websocket one
// needs the inbox and is registered by the caller.
func (s *Server) pushProviders() *providers.Registry {
	cfg := s.cfg
	vapidSubject, _ := cfg.vapidSubject()
	reg := providers.NewRegistry()
	apns.Register(reg, apns.Options{Host: cfg.APNSHost, RootCAs: cfg.APNSRootCAs})
	fcm.Register(reg, fcm.Options{Endpoint: cfg.FCMEndpoint, Guard: s.guard})
	hms.Register(reg, hms.Options{Guard: s.guard})
	webpush.Register(reg, webpush.Options{Guard: s.guard, DefaultSubject: vapidSubject})
	return reg
}

// credentialOptions check credentials as the configuration says.
func (s *Server) credentialOptions() buckets.ParseOptions {
	cfg := s.cfg
	vapidSubject, _ := cfg.vapidSubject()
	// A replaced FCM endpoint means a test or on-premise setup, whose
	// token endpoint may be plain HTTP too.
	return buckets.ParseOptions{DefaultVAPIDSubject: vapidSubject, AllowHTTPTokenURI: cfg.FCMEndpoint != "",
		AllowHTTPHMS: cfg.HMSAllowHTTP,
		Guard:        s.guard, TokenURIGuard: s.guard.Trusting(cfg.FCMEndpoint)}
}

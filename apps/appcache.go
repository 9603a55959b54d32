package apps

import (
	"context"
	"time"
)

// Apps looked up by id or public key for every Pusher connection and
// every Pusher HTTP API call (GetByKey, Lookup) are remembered for
// appCacheTTL, so that ten thousand connections opening at once make no
// ten thousand database reads and secret unsealings. They are remembered
// on the same terms as API keys (only after Start, while the auth epoch is
// read in time, and forgotten when it moves: a deleted app stops opening
// anywhere within 2*EpochPoll), and this node forgets an app at once when
// it changes its settings or secret; another node's change is seen within
// appCacheTTL.
const appCacheTTL = time.Second

// maxCachedApps is a backstop: only apps that exist are remembered.
const maxCachedApps = 10_000

type cachedApp struct {
	app     *App // with its secret opened
	epoch   int64
	expires time.Time
}

// remembered returns the app cached under k, if it may be used at now.
func (s *Service) remembered(k string, now time.Time) (*App, bool) {
	if s.ttl <= 0 || !s.trusting(now) {
		return nil, false
	}
	s.mu.RLock()
	c, ok := s.apps[k]
	s.mu.RUnlock()
	if !ok || !now.Before(c.expires) || c.epoch != s.epoch.Load() {
		return nil, false
	}
	a := *c.app
	return &a, true
}

// cachedGet is get through the cache under k.
func (s *Service) cachedGet(ctx context.Context, k string, get func() (*App, error)) (*App, error) {
	now := s.now()
	if a, ok := s.remembered(k, now); ok {
		return a, nil
	}
	// Read before the look-up, as Authenticate does.
	epoch := s.epoch.Load()
	app, err := get()
	if err != nil {
		return nil, err
	}
	if app, err = s.open(app); err != nil {
		return nil, err
	}
	if s.ttl > 0 && s.trusting(now) {
		kept := *app
		s.mu.Lock()
		if len(s.apps) >= maxCachedApps {
			clear(s.apps)
		}
		s.apps[k] = cachedApp{app: &kept, epoch: epoch, expires: now.Add(min(s.ttl, appCacheTTL))}
		s.mu.Unlock()
	}
	return app, nil
}

// GetByKey returns the app with the given public key, its secret opened:
// the Pusher protocol's /app/{key} and connections authenticated by the
// app's connectAuthUrl name their app by its public key. It may answer an
// app as it was up to a second ago (see appCacheTTL).
func (s *Service) GetByKey(ctx context.Context, publicKey string) (*App, error) {
	return s.cachedGet(ctx, "k\x00"+publicKey, func() (*App, error) { return s.store.GetAppByKey(ctx, publicKey) })
}

// Lookup is Get for the calls made for each connection or event (the
// Pusher HTTP API): it may answer an app as it was up to a second ago
// (see appCacheTTL). Get always reads the app.
func (s *Service) Lookup(ctx context.Context, id string) (*App, error) {
	return s.cachedGet(ctx, "i\x00"+id, func() (*App, error) { return s.store.GetApp(ctx, id) })
}

// forgetApp forgets what this node remembers of app id.
func (s *Service) forgetApp(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, c := range s.apps {
		if c.app.ID == id {
			delete(s.apps, k)
		}
	}
}

package delivery

import (
	"context"
	"sync"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/providers"
)

// providerPool keeps one provider per credential, so every chunk of one
// credential shares its connections (one HTTP/2 pool per APNS credential,
// one Firebase app per service account). Credentials never change, so an
// entry is valid until its bucket goes away; idle entries are closed.
type providerPool struct {
	creds    Credentials
	registry *providers.Registry
	now      func() time.Time // delivery's clock (Options.Now)

	mu      sync.Mutex
	entries map[string]*poolEntry
}

type poolEntry struct {
	once     sync.Once
	p        providers.Provider
	platform pushgate.Platform
	err      error
	lastUsed time.Time
}

func newProviderPool(creds Credentials, registry *providers.Registry, now func() time.Time) *providerPool {
	return &providerPool{creds: creds, registry: registry, now: now, entries: map[string]*poolEntry{}}
}

func (pp *providerPool) get(ctx context.Context, appID, bucketID, credID string) (providers.Provider, pushgate.Platform, error) {
	pp.mu.Lock()
	e, ok := pp.entries[credID]
	if !ok {
		e = &poolEntry{}
		pp.entries[credID] = e
	}
	e.lastUsed = pp.now()
	pp.mu.Unlock()
	e.once.Do(func() {
		cred, err := pp.creds.Credential(ctx, appID, bucketID, credID)
		if err != nil {
			e.err = err
			return
		}
		e.platform = cred.Type.Platform()
		e.p, e.err = pp.registry.New(cred)
		if e.err != nil && pushgate.ErrorCode(e.err) == pushgate.EINTERNAL {
			e.err = pushgate.Errorf(pushgate.EUNPROCESSABLE, "credential %s cannot be used: %v", credID, e.err)
		}
	})
	if e.err != nil {
		// A failed build is not cached: the next chunk tries again.
		pp.mu.Lock()
		if pp.entries[credID] == e {
			delete(pp.entries, credID)
		}
		pp.mu.Unlock()
	}
	return e.p, e.platform, e.err
}

// closeIdle closes providers unused for longer than idle.
func (pp *providerPool) closeIdle(idle time.Duration) {
	now := pp.now()
	pp.mu.Lock()
	var stale []*poolEntry
	for id, e := range pp.entries {
		if now.Sub(e.lastUsed) > idle && e.p != nil {
			stale = append(stale, e)
			delete(pp.entries, id)
		}
	}
	pp.mu.Unlock()
	for _, e := range stale {
		e.p.Close()
	}
}

func (pp *providerPool) closeAll() {
	pp.mu.Lock()
	entries := pp.entries
	pp.entries = map[string]*poolEntry{}
	pp.mu.Unlock()
	for _, e := range entries {
		if e.p != nil {
			e.p.Close()
		}
	}
}

package imagecdn

import (
	"context"
	"sync"
	"time"
)

// FetchCache remembers, per source URL, what the last successful fetch
// returned, so the same URL is not downloaded again within
// FetchOptions.RevalidateAfter and is revalidated with a conditional GET
// after it. Entries are hints: losing them costs a download, never
// correctness. MemoryFetchCache serves one process; the server keeps one
// in its database, so that several nodes share it.
type FetchCache interface {
	Get(ctx context.Context, url string) (CacheEntry, bool, error)
	Put(ctx context.Context, url string, e CacheEntry) error
}

// CacheEntry is what a FetchCache holds for one URL.
type CacheEntry struct {
	Digest       string // hex SHA-256 of the body
	ContentType  string // sniffed
	ETag         string // as the server sent it, for If-None-Match
	LastModified string // as the server sent it, for If-Modified-Since
	CheckedAt    time.Time
}

// MemoryFetchCache is a FetchCache in memory, bounded to a number of URLs;
// past it the oldest entries are dropped.
type MemoryFetchCache struct {
	mu      sync.Mutex
	max     int
	entries map[string]CacheEntry
	order   []string // insertion order, for eviction
}

var _ FetchCache = (*MemoryFetchCache)(nil)

// NewMemoryFetchCache returns a cache of at most max URLs (default 10,000:
// about 2 MB).
func NewMemoryFetchCache(max int) *MemoryFetchCache {
	if max <= 0 {
		max = 10_000
	}
	return &MemoryFetchCache{max: max, entries: map[string]CacheEntry{}}
}

func (c *MemoryFetchCache) Get(_ context.Context, url string) (CacheEntry, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[url]
	return e, ok, nil
}

func (c *MemoryFetchCache) Put(_ context.Context, url string, e CacheEntry) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[url]; !ok {
		for len(c.entries) >= c.max {
			delete(c.entries, c.order[0])
			c.order = c.order[1:]
		}
		c.order = append(c.order, url)
	}
	c.entries[url] = e
	return nil
}

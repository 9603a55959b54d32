package imagecdn

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"

	"github.com/pushgate/pushgate"
)

// Options configure a Processor.
type Options struct {
	// Store keeps the variants. Required.
	Store Store
	// PublicURL is how push services and apps reach this server
	// (PUSHGATE_PUBLIC_URL); variant URLs are PublicURL + "/cdn/" + key.
	// Required.
	PublicURL string
	// Fetch configures fetching; Fetch.Guard is required. Fetch.MaxBytes
	// defaults to Limits.MaxBytes.
	Fetch FetchOptions
	// Limits bound sources, fetched or uploaded.
	Limits Limits
	// Variants to make of every source (default DefaultVariants()).
	Variants []Variant
	// JPEGQuality of JPEG variants, 1-100 (default 85).
	JPEGQuality int
	// Concurrency is how many sources are decoded and resized at once
	// (default GOMAXPROCS). Each one holds a decoded image, up to
	// MaxPixels * 4 bytes, so this bounds memory as much as CPU.
	Concurrency int
	// Logger receives failures callers cannot see (default discard).
	Logger *slog.Logger
}

// Processor fetches or takes images, makes their variants, stores them and
// answers their URLs. It is safe for concurrent use.
type Processor struct {
	store    Store
	fetcher  *Fetcher
	base     string
	limits   Limits
	variants []Variant
	quality  int
	sem      chan struct{}
	log      *slog.Logger

	mu       sync.Mutex
	inflight map[string]*call

	// working, when set (by tests), is told each time a source starts (+1)
	// and stops (-1) holding a concurrency slot.
	working func(delta int)
}

// Result is what a Processor made of one source.
type Result struct {
	// Digest is the hex SHA-256 of the source bytes.
	Digest string `json:"digest"`
	// Variants are in the order of Options.Variants.
	Variants []Image `json:"variants"`
	// Reused says nothing was decoded or resized: every variant was stored
	// already.
	Reused bool `json:"-"`
}

// Image is one stored variant.
type Image struct {
	Variant     string `json:"variant"`
	Key         string `json:"key"`
	URL         string `json:"url,omitempty"`
	Width       int    `json:"width"`
	Height      int    `json:"height"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
}

// Image returns the variant named name.
func (r *Result) Image(name string) (Image, bool) {
	for _, im := range r.Variants {
		if im.Variant == name {
			return im, true
		}
	}
	return Image{}, false
}

// NewProcessor returns a Processor. It starts nothing.
func NewProcessor(opts Options) (*Processor, error) {
	if opts.Store == nil {
		return nil, errors.New("imagecdn: Options.Store is required")
	}
	u, err := url.Parse(opts.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("imagecdn: Options.PublicURL %q is not an absolute http(s) URL", opts.PublicURL)
	}
	opts.Limits = opts.Limits.withDefaults()
	if opts.Fetch.MaxBytes <= 0 {
		opts.Fetch.MaxBytes = opts.Limits.MaxBytes
	}
	fetcher, err := NewFetcher(opts.Fetch)
	if err != nil {
		return nil, err
	}
	if opts.Variants == nil {
		opts.Variants = DefaultVariants()
	}
	if err := validateVariants(opts.Variants); err != nil {
		return nil, err
	}
	if opts.JPEGQuality == 0 {
		opts.JPEGQuality = 85
	}
	if opts.JPEGQuality < 1 || opts.JPEGQuality > 100 {
		return nil, fmt.Errorf("imagecdn: JPEGQuality %d outside 1-100", opts.JPEGQuality)
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = runtime.GOMAXPROCS(0)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Processor{
		store:    opts.Store,
		fetcher:  fetcher,
		base:     strings.TrimRight(opts.PublicURL, "/") + "/cdn/",
		limits:   opts.Limits,
		variants: append([]Variant(nil), opts.Variants...),
		quality:  opts.JPEGQuality,
		sem:      make(chan struct{}, opts.Concurrency),
		log:      opts.Logger,
		inflight: map[string]*call{},
	}, nil
}

// Handler returns the handler serving this Processor's variants.
func (p *Processor) Handler() *Handler { return NewHandler(p.store, p.log) }

// Process makes the variants of the image at sourceURL. A URL processed
// within FetchOptions.RevalidateAfter is not fetched again, and one whose
// server answers 304 or whose bytes were seen before (under any URL) is not
// resized again. Concurrent calls for one URL share one fetch.
func (p *Processor) Process(ctx context.Context, sourceURL string) (*Result, error) {
	if err := ValidateURL(sourceURL); err != nil {
		return nil, err
	}
	return p.once(ctx, "url\x00"+sourceURL, func() (*Result, error) {
		src, err := p.fetcher.Fetch(ctx, sourceURL)
		if err != nil {
			return nil, err
		}
		if src.NotModified {
			res, ok, err := p.lookup(ctx, src.Digest)
			if err != nil || ok {
				return res, err
			}
			// Known bytes whose variants are gone (or never got made):
			// the bytes are needed after all.
			if src, err = p.fetcher.FetchFresh(ctx, sourceURL); err != nil {
				return nil, err
			}
		}
		return p.build(ctx, src.Data, src.Digest)
	})
}

// Upload makes the variants of an image sent directly, within the same
// limits as a fetched one.
func (p *Processor) Upload(ctx context.Context, body io.Reader) (*Result, error) {
	data, _, err := readImage(body, p.limits.MaxBytes, -1)
	if err != nil {
		if pushgate.ErrorCode(err) != pushgate.EINTERNAL {
			return nil, err
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("imagecdn: reading upload: %w", err)
		}
		// The body is the client's: one that breaks off (a multipart part
		// that never ends) is its error. The answer is a fixed text: a read
		// error names this node's address ("read tcp 10.0.0.5:8080->…"),
		// so it goes to the log. A body over the HTTP limit stays
		// recognisable to the caller through Err.
		if tooBig := (*http.MaxBytesError)(nil); !errors.As(err, &tooBig) {
			p.log.LogAttrs(ctx, slog.LevelInfo, "imagecdn: an upload could not be read", slog.Any("err", err))
		}
		return nil, &pushgate.Error{Code: pushgate.EINVALID, Message: "the image upload could not be read", Err: err}
	}
	sum := sha256.Sum256(data)
	return p.build(ctx, data, hex.EncodeToString(sum[:]))
}

// build makes and stores the variants of data, unless they are stored.
func (p *Processor) build(ctx context.Context, data []byte, digest string) (*Result, error) {
	return p.once(ctx, "digest\x00"+digest, func() (*Result, error) {
		res, ok, err := p.lookup(ctx, digest)
		if err != nil || ok {
			return res, err
		}
		out, err := p.render(ctx, data)
		if err != nil {
			return nil, err
		}
		m := Result{Digest: digest, Variants: make([]Image, 0, len(out))}
		for _, r := range out {
			key := variantKey(digest, r.variant, p.quality, r.ext)
			if err := p.store.Put(ctx, key, r.contentType, r.data); err != nil {
				return nil, err
			}
			m.Variants = append(m.Variants, Image{Variant: r.variant.Name, Key: key, Width: r.width, Height: r.height, ContentType: r.contentType, Size: int64(len(r.data))})
		}
		// The manifest goes last: its presence is what says "done".
		b, err := json.Marshal(&m)
		if err != nil {
			return nil, err
		}
		if err := p.store.Put(ctx, manifestKey(digest, p.variants, p.quality), "application/json", b); err != nil {
			return nil, err
		}
		return p.withURLs(&m), nil
	})
}

// render decodes and resizes within the concurrency limit.
func (p *Processor) render(ctx context.Context, data []byte) ([]rendered, error) {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-p.sem }()
	if p.working != nil {
		p.working(+1)
		defer p.working(-1)
	}
	d, err := Decode(data, p.limits)
	if err != nil {
		return nil, err
	}
	return render(d, p.variants, p.quality)
}

// maxManifest bounds reading a manifest: a few hundred bytes per variant.
const maxManifest = 1 << 20

// lookup returns the stored result for a digest, if every variant is stored.
func (p *Processor) lookup(ctx context.Context, digest string) (*Result, bool, error) {
	obj, err := p.store.Open(ctx, manifestKey(digest, p.variants, p.quality))
	if pushgate.ErrorCode(err) == pushgate.ENOTFOUND {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer obj.Body.Close()
	var m Result
	if err := json.NewDecoder(io.LimitReader(obj.Body, maxManifest)).Decode(&m); err != nil {
		p.log.LogAttrs(ctx, slog.LevelWarn, "imagecdn: unreadable manifest, remaking variants", slog.String("digest", digest), slog.Any("err", err))
		return nil, false, nil
	}
	if m.Digest != digest || len(m.Variants) != len(p.variants) {
		return nil, false, nil
	}
	for _, im := range m.Variants {
		ok, err := p.store.Has(ctx, im.Key)
		if err != nil || !ok {
			return nil, false, err
		}
	}
	res := p.withURLs(&m)
	res.Reused = true
	return res, true, nil
}

func (p *Processor) withURLs(m *Result) *Result {
	res := &Result{Digest: m.Digest, Variants: make([]Image, len(m.Variants))}
	for i, im := range m.Variants {
		im.URL = p.base + im.Key
		res.Variants[i] = im
	}
	return res
}

// call is one piece of work that concurrent callers with the same key wait
// for instead of repeating.
type call struct {
	done      chan struct{}
	res       *Result
	err       error
	cancelled bool // the caller doing the work gave up; others should retry
}

func (p *Processor) once(ctx context.Context, key string, fn func() (*Result, error)) (*Result, error) {
	for {
		p.mu.Lock()
		c, ok := p.inflight[key]
		if !ok {
			c = &call{done: make(chan struct{}), err: errors.New("imagecdn: processing panicked")}
			p.inflight[key] = c
			p.mu.Unlock()
			// Deferred, so a panic cannot leave the others waiting forever.
			defer func() {
				p.mu.Lock()
				delete(p.inflight, key)
				p.mu.Unlock()
				close(c.done)
			}()
			c.res, c.err = fn()
			c.cancelled = ctx.Err() != nil
			return c.res, c.err
		}
		p.mu.Unlock()
		select {
		case <-c.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if c.cancelled && ctx.Err() == nil {
			continue
		}
		if c.err != nil {
			return nil, c.err
		}
		res := *c.res
		res.Variants = append([]Image(nil), c.res.Variants...)
		return &res, nil
	}
}

// PlaceholderURL is as long as the longest URL a variant named variant can
// have, for checking payload sizes before an image is processed.
func (p *Processor) PlaceholderURL(variant string) string {
	return p.base + strings.Repeat("0", 64) + "-" + variant + ".jpeg"
}

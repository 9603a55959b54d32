package imagecdn

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pushgate/pushgate"
)

// FetchOptions tune a Fetcher. Zero fields take the defaults.
type FetchOptions struct {
	// Guard checks every address dialled, redirects included. Required.
	Guard *pushgate.SSRFGuard
	// ConnectTimeout bounds each TCP connect and TLS handshake (default 5 s).
	ConnectTimeout time.Duration
	// Timeout bounds a whole fetch: connects, redirects and the body
	// (default 20 s).
	Timeout time.Duration
	// MaxBytes is the largest body read (default 10 MiB); a larger one is
	// refused as soon as the limit is passed.
	MaxBytes int64
	// MaxRedirects is how many redirects are followed (default 3).
	MaxRedirects int
	// RevalidateAfter is how long a fetched URL is taken as unchanged
	// without asking its server (default 1 h). After it, the URL is fetched
	// with If-None-Match / If-Modified-Since when the server sent validators.
	RevalidateAfter time.Duration
	// Cache remembers fetched URLs (default a MemoryFetchCache).
	Cache FetchCache
	// UserAgent is sent with every request (default "pushgate-imagecdn").
	UserAgent string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Fetcher downloads source images.
type Fetcher struct {
	client *http.Client
	opts   FetchOptions
}

// Source is a fetched source image.
type Source struct {
	URL string // as asked for
	// Data is the body. It is nil when NotModified.
	Data []byte
	// Digest is the hex SHA-256 of the body; with NotModified, of the body
	// fetched before.
	Digest string
	// ContentType is sniffed from the bytes, never taken from the server.
	ContentType string
	// NotModified says the URL was fetched before and is unchanged: either
	// it was checked within RevalidateAfter (no request was made) or its
	// server answered 304 Not Modified.
	NotModified bool
}

// NewFetcher returns a Fetcher. Its connections are pooled, so one Fetcher
// should serve a whole process.
func NewFetcher(opts FetchOptions) (*Fetcher, error) {
	if opts.Guard == nil {
		return nil, errors.New("imagecdn: a Fetcher needs an SSRF guard")
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 5 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 20 * time.Second
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.MaxRedirects <= 0 {
		opts.MaxRedirects = 3
	}
	if opts.RevalidateAfter <= 0 {
		opts.RevalidateAfter = time.Hour
	}
	if opts.Cache == nil {
		opts.Cache = NewMemoryFetchCache(0)
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "pushgate-imagecdn"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	t := opts.Guard.Transport()
	guard, connect := opts.Guard, opts.ConnectTimeout
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(ctx, connect)
		defer cancel()
		return guard.DialContext(ctx, network, addr)
	}
	t.TLSHandshakeTimeout = opts.ConnectTimeout
	t.ResponseHeaderTimeout = opts.Timeout
	t.MaxResponseHeaderBytes = 64 << 10
	f := &Fetcher{opts: opts}
	f.client = &http.Client{Transport: t, CheckRedirect: f.checkRedirect}
	return f, nil
}

// ValidateURL checks that raw can be fetched at all: an absolute http or
// https URL with a host and no credentials. It makes no request, so it
// suits validating a request before answering it.
func ValidateURL(raw string) error {
	_, err := parseSourceURL(raw)
	return err
}

func parseSourceURL(raw string) (*url.URL, error) {
	if len(raw) > 2048 {
		return nil, pushgate.Errorf(pushgate.EINVALID, "image URL is longer than 2048 characters")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		return nil, pushgate.Errorf(pushgate.EINVALID, "image URL must be an absolute http or https URL")
	}
	if u.User != nil {
		return nil, pushgate.Errorf(pushgate.EINVALID, "image URL must not carry credentials")
	}
	u.Fragment, u.RawFragment = "", ""
	return u, nil
}

func (f *Fetcher) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > f.opts.MaxRedirects {
		return pushgate.Errorf(pushgate.EUNPROCESSABLE, "image URL redirected more than %d times", f.opts.MaxRedirects)
	}
	if _, err := parseSourceURL(req.URL.String()); err != nil {
		return pushgate.Errorf(pushgate.EUNPROCESSABLE, "image URL redirected to something that is not an absolute http or https URL")
	}
	return nil
}

// Fetch returns the image at rawURL. A URL fetched within RevalidateAfter
// is answered from the cache without a request, and one fetched before
// that is revalidated; both answer NotModified with the earlier Digest and
// no Data. Callers that need the bytes then call FetchFresh.
func (f *Fetcher) Fetch(ctx context.Context, rawURL string) (*Source, error) {
	u, err := parseSourceURL(rawURL)
	if err != nil {
		return nil, err
	}
	e, ok, err := f.opts.Cache.Get(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	if !ok {
		return f.get(ctx, rawURL, u, nil)
	}
	if age := f.opts.Now().Sub(e.CheckedAt); age >= 0 && age < f.opts.RevalidateAfter {
		return &Source{URL: rawURL, Digest: e.Digest, ContentType: e.ContentType, NotModified: true}, nil
	}
	if e.ETag == "" && e.LastModified == "" {
		return f.get(ctx, rawURL, u, nil)
	}
	return f.get(ctx, rawURL, u, &e)
}

// FetchFresh downloads rawURL unconditionally.
func (f *Fetcher) FetchFresh(ctx context.Context, rawURL string) (*Source, error) {
	u, err := parseSourceURL(rawURL)
	if err != nil {
		return nil, err
	}
	return f.get(ctx, rawURL, u, nil)
}

func (f *Fetcher) get(ctx context.Context, rawURL string, u *url.URL, known *CacheEntry) (*Source, error) {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, f.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, pushgate.Errorf(pushgate.EINVALID, "image URL must be an absolute http or https URL")
	}
	req.Header.Set("User-Agent", f.opts.UserAgent)
	req.Header.Set("Accept", "image/webp,image/png,image/jpeg,image/gif;q=0.9")
	if known != nil {
		if known.ETag != "" {
			req.Header.Set("If-None-Match", known.ETag)
		}
		if known.LastModified != "" {
			req.Header.Set("If-Modified-Since", known.LastModified)
		}
	}
	res, err := f.client.Do(req)
	if err != nil {
		return nil, f.requestError(parent, err)
	}
	defer res.Body.Close()

	entry := CacheEntry{ETag: res.Header.Get("ETag"), LastModified: res.Header.Get("Last-Modified"), CheckedAt: f.opts.Now()}
	switch {
	case res.StatusCode == http.StatusNotModified && known != nil:
		entry.Digest, entry.ContentType = known.Digest, known.ContentType
		if entry.ETag == "" && entry.LastModified == "" {
			entry.ETag, entry.LastModified = known.ETag, known.LastModified
		}
		if err := f.opts.Cache.Put(parent, rawURL, entry); err != nil {
			return nil, err
		}
		return &Source{URL: rawURL, Digest: known.Digest, ContentType: known.ContentType, NotModified: true}, nil
	case res.StatusCode != http.StatusOK:
		return nil, statusError(res)
	}
	data, format, err := readImage(res.Body, f.opts.MaxBytes, res.ContentLength)
	if err != nil {
		if pushgate.ErrorCode(err) == pushgate.EINTERNAL {
			return nil, f.requestError(parent, err)
		}
		return nil, err
	}
	sum := sha256.Sum256(data)
	entry.Digest, entry.ContentType = hex.EncodeToString(sum[:]), supportedFormats[format]
	if err := f.opts.Cache.Put(parent, rawURL, entry); err != nil {
		return nil, err
	}
	return &Source{URL: rawURL, Data: data, Digest: entry.Digest, ContentType: entry.ContentType}, nil
}

// requestError classifies a failed request or body read. parent is the
// caller's context: its end is the caller's business, not the image's.
func (f *Fetcher) requestError(parent context.Context, err error) error {
	if perr := parent.Err(); perr != nil {
		return fmt.Errorf("imagecdn: fetch: %w", perr)
	}
	var ae *pushgate.AddressError
	if errors.As(err, &ae) {
		// The guard refused the address the URL (or a redirect) led to:
		// final, and said as such rather than as a failed fetch.
		return &pushgate.Error{Code: pushgate.EFORBIDDEN, Message: "image URL: " + ae.Error(), Err: err}
	}
	var pe *pushgate.Error
	if errors.As(err, &pe) {
		return &pushgate.Error{Code: pe.Code, Message: "image URL: " + pe.Message, Err: err}
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return &pushgate.Error{Code: pushgate.EUNAVAILABLE, Message: "image URL timed out", Err: err}
	}
	return &pushgate.Error{Code: pushgate.EUNAVAILABLE, Message: "image URL could not be fetched", Err: err}
}

// statusError says what an answer other than 200 means for the caller:
// worth retrying (429, 5xx, 408) or not.
func statusError(res *http.Response) error {
	msg := "image URL answered " + res.Status
	switch c := res.StatusCode; {
	case c == http.StatusTooManyRequests || c == http.StatusRequestTimeout || c >= 500:
		e := &pushgate.Error{Code: pushgate.EUNAVAILABLE, Message: msg}
		if s, err := strconv.Atoi(strings.TrimSpace(res.Header.Get("Retry-After"))); err == nil && s > 0 {
			e.RetryAfter = time.Duration(s) * time.Second
		}
		return e
	default:
		return &pushgate.Error{Code: pushgate.EUNPROCESSABLE, Message: msg}
	}
}

// readImage reads an image body of at most max bytes. It refuses as soon as
// the limit is passed, and after the first bytes already if they are not an
// image format Decode supports, so neither a huge body nor an HTML page is
// downloaded whole. sizeHint is the announced length, or -1.
func readImage(r io.Reader, max, sizeHint int64) ([]byte, string, error) {
	if sizeHint > max {
		return nil, "", tooLarge(max)
	}
	capacity := int64(64 << 10)
	if sizeHint > 0 {
		capacity = sizeHint + 1 // +1 so reading to EOF does not grow it
	}
	buf := bytes.NewBuffer(make([]byte, 0, capacity))
	head := make([]byte, min(sniffLen, max+1))
	n, err := io.ReadFull(r, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, "", err
	}
	format, ferr := checkFormat(head[:n])
	if ferr != nil {
		return nil, "", ferr
	}
	buf.Write(head[:n])
	if _, err := buf.ReadFrom(io.LimitReader(r, max+1-int64(n))); err != nil {
		return nil, "", err
	}
	if int64(buf.Len()) > max {
		return nil, "", tooLarge(max)
	}
	return buf.Bytes(), format, nil
}

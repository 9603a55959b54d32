package imagecdn_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/imagecdn"
)

func newFetcher(t testing.TB, opts imagecdn.FetchOptions) *imagecdn.Fetcher {
	t.Helper()
	if opts.Guard == nil {
		opts.Guard = guard(t)
	}
	f, err := imagecdn.NewFetcher(opts)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestFetchSniffsContentType(t *testing.T) {
	pngData := transparentPNG(t, 8, 8)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/png-called-text":
			w.Header().Set("Content-Type", "text/plain")
			w.Write(pngData)
		case "/html-called-jpeg":
			w.Header().Set("Content-Type", "image/jpeg")
			fmt.Fprint(w, "<html><body>not found, but 200</body></html>")
		}
	}))
	defer srv.Close()
	f := newFetcher(t, imagecdn.FetchOptions{})

	src, err := f.Fetch(context.Background(), srv.URL+"/png-called-text")
	if err != nil {
		t.Fatal(err)
	}
	if src.ContentType != "image/png" || !bytes.Equal(src.Data, pngData) {
		t.Fatalf("content type %q, %d bytes", src.ContentType, len(src.Data))
	}
	_, err = f.Fetch(context.Background(), srv.URL+"/html-called-jpeg")
	if e := wantCode(t, err, pushgate.EUNPROCESSABLE); !strings.Contains(e.Message, "not an image") {
		t.Fatalf("message %q", e.Message)
	}
}

// redirector redirects /r/N to /r/N-1 and serves an image at /r/0.
func redirector(t testing.TB, body []byte) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/r/"))
		if n == 0 {
			w.Write(body)
			return
		}
		http.Redirect(w, r, fmt.Sprintf("/r/%d", n-1), http.StatusFound)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestFetchFollowsAtMostThreeRedirects(t *testing.T) {
	img := transparentPNG(t, 8, 8)
	srv := redirector(t, img)
	f := newFetcher(t, imagecdn.FetchOptions{})
	for _, n := range []int{0, 1, 3} {
		src, err := f.FetchFresh(context.Background(), fmt.Sprintf("%s/r/%d", srv.URL, n))
		if err != nil {
			t.Fatalf("%d redirects: %v", n, err)
		}
		if !bytes.Equal(src.Data, img) {
			t.Fatalf("%d redirects: wrong body", n)
		}
	}
	_, err := f.FetchFresh(context.Background(), srv.URL+"/r/4")
	if e := wantCode(t, err, pushgate.EUNPROCESSABLE); !strings.Contains(e.Message, "redirected more than 3 times") {
		t.Fatalf("message %q", e.Message)
	}
}

func TestFetchChecksEveryRedirectHop(t *testing.T) {
	var followed atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/metadata":
			http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
		case "/private":
			http.Redirect(w, r, "http://10.0.0.7:8080/admin.png", http.StatusMovedPermanently)
		case "/other-loopback":
			// Allowed for the first hop (127.0.0.1 is allow-listed), not for
			// the second: the guard sees the address actually dialled.
			http.Redirect(w, r, "http://127.0.0.2"+strings.TrimPrefix(r.Host, "127.0.0.1")+"/x", http.StatusFound)
		case "/ftp":
			http.Redirect(w, r, "ftp://example.com/a.png", http.StatusFound)
		default:
			followed.Add(1)
		}
	}))
	defer srv.Close()
	only, err := pushgate.NewSSRFGuard("127.0.0.1/32")
	if err != nil {
		t.Fatal(err)
	}
	f := newFetcher(t, imagecdn.FetchOptions{Guard: only})
	for path, code := range map[string]string{
		"/metadata":       pushgate.EFORBIDDEN,
		"/private":        pushgate.EFORBIDDEN,
		"/other-loopback": pushgate.EFORBIDDEN,
		"/ftp":            pushgate.EUNPROCESSABLE,
	} {
		t.Run(path, func(t *testing.T) {
			_, err := f.FetchFresh(context.Background(), srv.URL+path)
			e := wantCode(t, err, code)
			if code == pushgate.EFORBIDDEN && !strings.Contains(e.Message, "is a forbidden address") {
				t.Fatalf("message %q", e.Message)
			}
		})
	}
	if followed.Load() != 0 {
		t.Fatal("a refused redirect reached the server")
	}

	// Without an allow-list, the test server itself is internal.
	strict, _ := pushgate.NewSSRFGuard("")
	_, err = newFetcher(t, imagecdn.FetchOptions{Guard: strict}).FetchFresh(context.Background(), srv.URL+"/x")
	wantCode(t, err, pushgate.EFORBIDDEN)
}

func TestFetchRefusesLargeBodiesWhileStreaming(t *testing.T) {
	head := transparentPNG(t, 8, 8)
	chunk := bytes.Repeat([]byte{0}, 32<<10)
	var written atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/announced" {
			w.Header().Set("Content-Length", strconv.Itoa(1<<30))
			w.Write(head)
			return
		}
		// A body far over the limit (endless, as far as a fetcher that
		// reads everything before counting can tell).
		w.Write(head)
		for r.Context().Err() == nil && written.Load() < 128<<20 {
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	const limit = 1 << 20
	f := newFetcher(t, imagecdn.FetchOptions{MaxBytes: limit, Timeout: time.Minute})

	_, err := f.FetchFresh(context.Background(), srv.URL+"/endless")
	if e := wantCode(t, err, pushgate.ETOOLARGE); !strings.Contains(e.Message, "larger than 1 MB") {
		t.Fatalf("message %q", e.Message)
	}
	// What the server got out before the fetcher hung up: the limit plus
	// what socket buffers hold, not the whole body.
	if n := written.Load(); n >= 64<<20 {
		t.Fatalf("server wrote %d MB before the fetcher stopped", n>>20)
	}
	_, err = f.FetchFresh(context.Background(), srv.URL+"/announced")
	wantCode(t, err, pushgate.ETOOLARGE)
}

func TestFetchStopsAtFirstBytesThatAreNoImage(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		fmt.Fprint(w, "<!doctype html>")
		for r.Context().Err() == nil {
			if _, err := w.Write(bytes.Repeat([]byte("<p>"), 10000)); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	_, err := newFetcher(t, imagecdn.FetchOptions{Timeout: time.Minute}).FetchFresh(context.Background(), srv.URL)
	wantCode(t, err, pushgate.EUNPROCESSABLE)
}

func TestFetchTimesOut(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer srv.Close()
	f := newFetcher(t, imagecdn.FetchOptions{Timeout: 100 * time.Millisecond})
	_, err := f.FetchFresh(context.Background(), srv.URL)
	if e := wantCode(t, err, pushgate.EUNAVAILABLE); !strings.Contains(e.Message, "timed out") {
		t.Fatalf("message %q", e.Message)
	}

	// The caller giving up is not the image's fault.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = f.FetchFresh(ctx, srv.URL)
	if pushgate.ErrorCode(err) != pushgate.EINTERNAL || !strings.Contains(err.Error(), "canceled") {
		t.Fatalf("cancelled fetch: %v", err)
	}
}

func TestFetchStatusCodes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(code)
	}))
	defer srv.Close()
	f := newFetcher(t, imagecdn.FetchOptions{})
	for code, want := range map[int]string{
		404: pushgate.EUNPROCESSABLE, 410: pushgate.EUNPROCESSABLE, 403: pushgate.EUNPROCESSABLE, 204: pushgate.EUNPROCESSABLE,
		500: pushgate.EUNAVAILABLE, 503: pushgate.EUNAVAILABLE, 429: pushgate.EUNAVAILABLE,
	} {
		_, err := f.FetchFresh(context.Background(), fmt.Sprintf("%s/%d", srv.URL, code))
		e := wantCode(t, err, want)
		if !strings.Contains(e.Message, strconv.Itoa(code)) {
			t.Errorf("%d: message %q", code, e.Message)
		}
		if want == pushgate.EUNAVAILABLE && e.RetryAfter != 7*time.Second {
			t.Errorf("%d: retry after %v", code, e.RetryAfter)
		}
	}
}

func TestFetchRevalidates(t *testing.T) {
	v1, v2 := transparentPNG(t, 8, 8), transparentPNG(t, 16, 16)
	srv := newImageServer(t, v1)
	clk := newClock()
	f := newFetcher(t, imagecdn.FetchOptions{RevalidateAfter: 10 * time.Minute, Now: clk.Now})
	ctx := context.Background()

	first, err := f.Fetch(ctx, srv.imageURL())
	if err != nil || first.NotModified || !bytes.Equal(first.Data, v1) {
		t.Fatalf("first fetch: %+v, %v", first, err)
	}

	clk.Advance(9 * time.Minute)
	again, err := f.Fetch(ctx, srv.imageURL())
	if err != nil || !again.NotModified || again.Digest != first.Digest || again.Data != nil {
		t.Fatalf("within the period: %+v, %v", again, err)
	}
	if n := srv.requests.Load(); n != 1 {
		t.Fatalf("%d requests within the period, want 1", n)
	}

	clk.Advance(2 * time.Minute)
	revalidated, err := f.Fetch(ctx, srv.imageURL())
	if err != nil || !revalidated.NotModified || revalidated.Digest != first.Digest {
		t.Fatalf("after the period: %+v, %v", revalidated, err)
	}
	if srv.requests.Load() != 2 || srv.conditional.Load() != 1 {
		t.Fatalf("requests %d, conditional %d; want 2, 1", srv.requests.Load(), srv.conditional.Load())
	}

	// The 304 restarted the period.
	clk.Advance(5 * time.Minute)
	if _, err := f.Fetch(ctx, srv.imageURL()); err != nil || srv.requests.Load() != 2 {
		t.Fatalf("after a 304: %d requests, %v", srv.requests.Load(), err)
	}

	srv.set(v2, `"v2"`)
	clk.Advance(11 * time.Minute)
	changed, err := f.Fetch(ctx, srv.imageURL())
	if err != nil || changed.NotModified || !bytes.Equal(changed.Data, v2) || changed.Digest == first.Digest {
		t.Fatalf("changed image: %+v, %v", changed, err)
	}
}

func TestFetchRevalidatesWithLastModified(t *testing.T) {
	body := transparentPNG(t, 8, 8)
	const stamp = "Mon, 02 Jan 2026 15:04:05 GMT"
	var (
		mu  sync.Mutex
		got []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Get("If-Modified-Since"))
		mu.Unlock()
		if r.Header.Get("If-Modified-Since") == stamp {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Last-Modified", stamp)
		w.Write(body)
	}))
	defer srv.Close()
	clk := newClock()
	f := newFetcher(t, imagecdn.FetchOptions{RevalidateAfter: time.Minute, Now: clk.Now})
	if _, err := f.Fetch(context.Background(), srv.URL); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Minute)
	src, err := f.Fetch(context.Background(), srv.URL)
	if err != nil || !src.NotModified {
		t.Fatalf("%+v, %v", src, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || got[0] != "" || got[1] != stamp {
		t.Fatalf("If-Modified-Since sent: %q", got)
	}
}

func TestValidateURL(t *testing.T) {
	for raw, ok := range map[string]bool{
		"https://cdn.example.com/a.png":                    true,
		"http://example.com:8080/a.png?x=1#f":              true,
		"ftp://example.com/a.png":                          false,
		"file:///etc/passwd":                               false,
		"/relative.png":                                    false,
		"https://user:pw@example.com/a.png":                false,
		"https:///a.png":                                   false,
		"https://example.com/" + strings.Repeat("a", 3000): false,
		"":                    false,
		"javascript:alert(1)": false,
	} {
		err := imagecdn.ValidateURL(raw)
		if ok != (err == nil) {
			t.Errorf("%.40q: %v", raw, err)
		}
		if err != nil {
			wantCode(t, err, pushgate.EINVALID)
		}
	}
}

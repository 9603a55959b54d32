package imagecdn_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/pushgate/pushgate/imagecdn"
)

// servedVariant stores a real variant and returns a handler serving it.
func servedVariant(t testing.TB) (http.Handler, imagecdn.Image, []byte) {
	t.Helper()
	p, store := newProcessor(t, imagecdn.Options{})
	res, err := p.Upload(context.Background(), bytes.NewReader(encodeJPEG(t, photo(800, 600, 20))))
	if err != nil {
		t.Fatal(err)
	}
	im, _ := res.Image("large")
	body, _ := stored(t, store, im.Key)
	return p.Handler(), im, body
}

func serve(h http.Handler, method, path string, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestHandlerServesVariant(t *testing.T) {
	h, im, body := servedVariant(t)
	w := serve(h, "GET", "/cdn/"+im.Key)
	if w.Code != 200 || !bytes.Equal(w.Body.Bytes(), body) {
		t.Fatalf("GET: %d, %d bytes", w.Code, w.Body.Len())
	}
	for name, want := range map[string]string{
		"Content-Type":           "image/jpeg",
		"Cache-Control":          "public, max-age=31536000, immutable",
		"ETag":                   `"` + im.Key + `"`,
		"X-Content-Type-Options": "nosniff",
		"Accept-Ranges":          "bytes",
	} {
		if got := w.Header().Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if w.Header().Get("Last-Modified") == "" || w.Header().Get("Content-Length") == "" {
		t.Errorf("headers %v", w.Header())
	}

	// Mounted elsewhere, the key is still the last segment.
	if w := serve(h, "GET", "/some/prefix/cdn/"+im.Key); w.Code != 200 {
		t.Errorf("under a prefix: %d", w.Code)
	}
}

func TestHandlerConditionalRangeAndHead(t *testing.T) {
	h, im, body := servedVariant(t)
	path := "/cdn/" + im.Key

	w := serve(h, "GET", path, "If-None-Match", `"`+im.Key+`"`)
	if w.Code != http.StatusNotModified || w.Body.Len() != 0 {
		t.Fatalf("If-None-Match: %d, %d bytes", w.Code, w.Body.Len())
	}
	if w := serve(h, "GET", path, "If-None-Match", `"something-else"`); w.Code != 200 {
		t.Fatalf("other ETag: %d", w.Code)
	}

	w = serve(h, "GET", path, "Range", "bytes=10-19")
	if w.Code != http.StatusPartialContent || !bytes.Equal(w.Body.Bytes(), body[10:20]) {
		t.Fatalf("range: %d, %q", w.Code, w.Body.Bytes())
	}
	if got := w.Header().Get("Content-Range"); got != "bytes 10-19/"+strconv.Itoa(len(body)) {
		t.Fatalf("Content-Range %q", got)
	}
	if w := serve(h, "GET", path, "Range", "bytes=999999999-"); w.Code != http.StatusRequestedRangeNotSatisfiable {
		t.Fatalf("range past the end: %d", w.Code)
	}

	// HEAD over a real connection, where the body is really dropped.
	srv := httptest.NewServer(h)
	defer srv.Close()
	res, err := http.Head(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || n != 0 || res.ContentLength != int64(len(body)) || res.Header.Get("ETag") == "" {
		t.Fatalf("HEAD: %d, %d body bytes, length %d", res.StatusCode, n, res.ContentLength)
	}
}

func TestHandlerNotFound(t *testing.T) {
	h, im, _ := servedVariant(t)
	manifest := strings.Repeat("0", 64) + ".json"
	for _, path := range []string{
		"/cdn/" + strings.Replace(im.Key, im.Key[:4], "ffff", 1), // well-formed, unknown
		"/cdn/nonsense",
		"/cdn/" + manifest,
		"/cdn/",
		"/cdn/" + im.Key + ".exe",
		"/cdn/..%2f..%2fetc%2fpasswd",
	} {
		w := serve(h, "GET", path)
		var body struct {
			Message string   `json:"message"`
			Errors  []string `json:"errors"`
			Code    string   `json:"code"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatalf("%s: %v in %q", path, err, w.Body.String())
		}
		if w.Code != 404 || body.Code != "not_found" || body.Message == "" || body.Errors == nil {
			t.Errorf("%s: %d %+v", path, w.Code, body)
		}
		if !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") || strings.Contains(w.Header().Get("Cache-Control"), "immutable") {
			t.Errorf("%s: headers %v", path, w.Header())
		}
	}
	w := serve(h, "POST", "/cdn/"+im.Key)
	if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD" || !strings.Contains(w.Body.String(), `"code":"method_not_allowed"`) {
		t.Errorf("POST: %d %v %s", w.Code, w.Header(), w.Body)
	}
}

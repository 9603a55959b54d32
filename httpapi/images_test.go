package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/contexts"
	"github.com/pushgate/pushgate/imagecdn"
	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/storage/sqlstore"
)

// testImages is the image service on a real Processor; contexts handed to
// it are only remembered (the server's workers process them).
type testImages struct {
	*imagecdn.Processor
	mu      sync.Mutex
	started []string
}

func newTestImages(t testing.TB) *testImages {
	store, err := imagecdn.NewDirStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	guard, _ := pushgate.NewSSRFGuard("")
	p, err := imagecdn.NewProcessor(imagecdn.Options{Store: store, PublicURL: "https://push.example.com", Fetch: imagecdn.FetchOptions{Guard: guard}})
	if err != nil {
		t.Fatal(err)
	}
	return &testImages{Processor: p}
}

func (ti *testImages) ProcessContext(_ context.Context, c *contexts.Context) error {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	ti.started = append(ti.started, c.ID)
	return nil
}

func (ti *testImages) Handler() http.Handler { return ti.Processor.Handler() }

func (ti *testImages) MaxBytes() int64 { return imagecdn.DefaultMaxBytes }

func testJPEG(t testing.TB, w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 128, 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestContextImages(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		c, _ := newCore(t, db)
		code, b := c.post("/v1/bucket", `{"providerCredentials":[{"type":"vapid","payload":`+vapidPayload(t)+`}],"callbackConfig":{"type":"none"}}`)
		if code != 200 {
			t.Fatalf("bucket: %d %v", code, b)
		}
		bucket := b["bucketId"].(string)

		// Without images a context is ready at once.
		_, plain := c.post("/v1/bucket/"+bucket+"/context/data", `{"title":"Hi"}`)
		if _, got := c.get("/v1/bucket/" + bucket + "/context/" + plain["contextId"].(string)); got["status"] != "ready" {
			t.Fatalf("context without images: %v", got)
		}

		code, withImage := c.post("/v1/bucket/"+bucket+"/context/data", `{"title":"Sale","icon":"https://shop.example/icon.png","image":"https://shop.example/sale.jpg"}`)
		if code != 200 {
			t.Fatalf("context with images: %d %v", code, withImage)
		}
		id := withImage["contextId"].(string)
		if _, got := c.get("/v1/bucket/" + bucket + "/context/" + id); got["status"] != "processing" {
			t.Fatalf("context with images, before processing: %v", got)
		}

		// A context whose images failed cannot be sent, and says why.
		if err := db.Buckets().FinishImages(context.Background(), mustApp(t, db, bucket), bucket, id, contexts.Failed, "image https://shop.example/sale.jpg: HTTP 404", nil); err != nil {
			t.Fatal(err)
		}
		if _, got := c.get("/v1/bucket/" + bucket + "/context/" + id); got["status"] != "failed" || !strings.Contains(fmt.Sprint(got["reason"]), "HTTP 404") {
			t.Fatalf("failed context: %v", got)
		}
		rec := c.do("POST", "/v1/bucket/"+bucket+"/context/"+id+"/send", `{"receivers":[{"credentialId":"x","token":"y"}]}`, "x-token", c.key)
		if rec.Code != 422 || !strings.Contains(decodeError(t, rec).Message, "HTTP 404") {
			t.Fatalf("send of a failed context: %d %s", rec.Code, rec.Body)
		}

		c.sc.badRequests = true
		for _, bad := range []string{"ftp://shop.example/a.png", "/relative.png"} {
			if code, got := c.post("/v1/bucket/"+bucket+"/context/data", fmt.Sprintf(`{"title":"x","image":%q}`, bad)); code != 400 {
				t.Errorf("image %q: %d %v, want 400", bad, code, got)
			}
		}
		c.sc.badRequests = false
	})
}

func mustApp(t *testing.T, db *sqlstore.DB, bucket string) string {
	t.Helper()
	var app string
	if err := db.QueryRowContext(context.Background(), `SELECT app_id FROM buckets WHERE id = `+placeholder(db), bucket).Scan(&app); err != nil {
		t.Fatal(err)
	}
	return app
}

func placeholder(db *sqlstore.DB) string {
	if db.Dialect == sqlstore.Postgres {
		return "$1"
	}
	return "?"
}

func TestImageUploadAndCDN(t *testing.T) {
	db := testenv.OpenDB(t, testenv.SQLiteURL(t))
	c, _ := newCore(t, db)
	src := testJPEG(t, 800, 600)

	rec := c.do("POST", "/v1/images", "", "x-token", c.key) // empty
	c.sc.badRequests = true
	if rec.Code != 400 && rec.Code != 422 {
		t.Fatalf("empty upload: %d %s", rec.Code, rec.Body)
	}
	c.sc.badRequests = false

	upload := func(body []byte, contentType string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/v1/images", bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("x-token", c.key)
		rec := httptest.NewRecorder()
		c.h.ServeHTTP(rec, req)
		return rec
	}
	rec = upload(src, "image/jpeg")
	if rec.Code != 200 {
		t.Fatalf("raw upload: %d %s", rec.Code, rec.Body)
	}
	var res struct {
		Digest   string
		Variants []struct {
			Variant, URL, ContentType string
			Width, Height             int
		}
	}
	decodeInto(t, rec, &res)
	if len(res.Variants) != 4 {
		t.Fatalf("variants = %+v", res.Variants)
	}
	var large string
	for _, v := range res.Variants {
		if !strings.HasPrefix(v.URL, "https://push.example.com/cdn/") {
			t.Fatalf("variant URL %q is not on the CDN", v.URL)
		}
		if v.Variant == "large" {
			large = v.URL
			if v.Width != 2*v.Height {
				t.Fatalf("large variant %dx%d is not 2:1", v.Width, v.Height)
			}
		}
	}

	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	mw.WriteField("note", "ignored")
	fw, _ := mw.CreateFormFile("image", "photo.jpg")
	fw.Write(src)
	mw.Close()
	rec = upload(form.Bytes(), mw.FormDataContentType())
	var again struct{ Digest string }
	decodeInto(t, rec, &again)
	if rec.Code != 200 || again.Digest != res.Digest {
		t.Fatalf("multipart upload: %d %s, want the same digest %s", rec.Code, rec.Body, res.Digest)
	}

	if rec := upload([]byte("not an image at all"), "image/png"); rec.Code != 422 {
		t.Fatalf("not an image: %d %s", rec.Code, rec.Body)
	}
	if rec := upload(bytes.Repeat([]byte{0xff}, imagecdn.DefaultMaxBytes+100<<10), "image/jpeg"); rec.Code != 413 {
		t.Fatalf("too large: %d", rec.Code)
	}

	path := strings.TrimPrefix(large, "https://push.example.com")
	for _, method := range []string{"GET", "HEAD"} {
		rec := httptest.NewRecorder()
		c.h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
		if rec.Code != 200 || rec.Header().Get("Content-Type") != "image/jpeg" || !strings.Contains(rec.Header().Get("Cache-Control"), "immutable") || rec.Header().Get("ETag") == "" {
			t.Fatalf("%s %s: %d %v", method, path, rec.Code, rec.Header())
		}
		if method == "GET" {
			if _, err := jpeg.Decode(rec.Body); err != nil {
				t.Fatalf("served variant is no JPEG: %v", err)
			}
		}
	}
	req := httptest.NewRequest("GET", path, nil)
	req.Header.Set("Range", "bytes=0-9")
	rec = httptest.NewRecorder()
	c.h.ServeHTTP(rec, req)
	if rec.Code != 206 || rec.Body.Len() != 10 {
		t.Fatalf("range: %d, %d bytes", rec.Code, rec.Body.Len())
	}
	rec = httptest.NewRecorder()
	c.h.ServeHTTP(rec, httptest.NewRequest("GET", "/cdn/"+strings.Repeat("0", 64)+"-large.jpg", nil))
	if rec.Code != 404 {
		t.Fatalf("unknown key: %d", rec.Code)
	}
}

func decodeInto(t *testing.T, rec *httptest.ResponseRecorder, v any) {
	t.Helper()
	b, _ := io.ReadAll(rec.Body)
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%d %s: %v", rec.Code, b, err)
	}
}

// The CDN answers ranges without amplification, and its errors (and the
// router's) in the one error shape, never Go's plain text or a redirect.
func TestCDNRangesAndErrors(t *testing.T) {
	db := testenv.OpenDB(t, testenv.SQLiteURL(t))
	c, _ := newCore(t, db)
	req := httptest.NewRequest("POST", "/v1/images", bytes.NewReader(testJPEG(t, 800, 600)))
	req.Header.Set("x-token", c.key)
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, req)
	var res struct {
		Variants []struct{ Variant, URL string }
	}
	decodeInto(t, rec, &res)
	path := strings.TrimPrefix(res.Variants[0].URL, "https://push.example.com")
	get := func(path string, header ...string) *httptest.ResponseRecorder {
		t.Helper()
		return c.do("GET", path, "", header...)
	}
	size := get(path).Body.Len()

	// 2,000 one-byte ranges would make an answer many times the image.
	var many []string
	for i := range 2000 {
		many = append(many, fmt.Sprintf("%d-%d", i%size, i%size))
	}
	rec = get(path, "Range", "bytes="+strings.Join(many, ","))
	if rec.Body.Len() > size {
		t.Errorf("2000 ranges: %d %d bytes for an image of %d", rec.Code, rec.Body.Len(), size)
	}
	if rec := get(path, "Range", "bytes=0-9,20-29"); rec.Code != 206 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "multipart/byteranges") {
		t.Errorf("two ranges: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}

	for _, tc := range []struct {
		name, path string
		header     []string
		status     int
	}{
		{"range past the end", path, []string{"Range", fmt.Sprintf("bytes=%d-", size+10)}, 416},
		{"failed If-Match", path, []string{"If-Match", `"something-else"`}, 412},
		{"trailing slash on the CDN", path + "/", nil, 404},
		{"trailing slash on the API", "/v1/app/", []string{"x-token", c.key}, 404},
	} {
		rec := get(tc.path, tc.header...)
		if rec.Code != tc.status {
			t.Errorf("%s: %d %v %q, want %d", tc.name, rec.Code, rec.Header(), rec.Body, tc.status)
			continue
		}
		e := decodeError(t, rec)
		if rec.Header().Get("Content-Type") != "application/json; charset=utf-8" || rec.Header().Get("Location") != "" {
			t.Errorf("%s: headers %v", tc.name, rec.Header())
		}
		if tc.status >= 400 && strings.Contains(rec.Header().Get("Cache-Control"), "immutable") {
			t.Errorf("%s: an error cached like an image: %v", tc.name, rec.Header())
		}
		if tc.status == 416 && (rec.Header().Get("Content-Range") != fmt.Sprintf("bytes */%d", size) || len(e.Errors) == 0 || !strings.HasPrefix(e.Errors[0], "Range: ")) {
			t.Errorf("%s: %v %+v", tc.name, rec.Header(), e)
		}
	}
}

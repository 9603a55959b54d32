package httpapi_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/pushgate/pushgate/httpapi"
	"github.com/pushgate/pushgate/internal/testenv"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// slowBody is n bytes sent in four parts, each after a pause of half the
// body bound: the whole takes twice as long as a body may.
func slowBody(n int) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		for i := 0; i < 4; i++ {
			time.Sleep(bodyTimeout / 2)
			pw.Write(bytes.Repeat([]byte("x"), n/4))
		}
		pw.Close()
	}()
	return pr
}

// Routes of the client-token group and of the long-lived connections share
// /v1 with the API-key routes yet take no API key; a stream is outside the
// metrics, the access log, the body size limit and the body deadline,
// while a client-token route is timed and bounded like every request.
func TestSurfacesGiveEachRouteItsMiddleware(t *testing.T) {
	log := &lockedBuffer{}
	h, _ := newTestAPIOn(t, testenv.OpenDB(t, testenv.SQLiteURL(t)), httpapi.Options{
		BodyTimeout: bodyTimeout, MaxBodyBytes: 1 << 10, AccessLog: true,
		Logger: slog.New(slog.NewJSONHandler(log, nil)),
	})
	readAll := func(c *gin.Context) {
		b, err := io.ReadAll(c.Request.Body)
		if err != nil {
			c.String(http.StatusTeapot, err.Error())
			return
		}
		c.String(http.StatusOK, "%d", len(b))
	}
	h.HandleClientForTest("POST", "/test-client", readAll)
	h.HandleStreamForTest("POST", "/v1/test-stream", readAll)
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	srv := ts.URL

	post := func(path string, body io.Reader) (int, string, http.Header) {
		t.Helper()
		res, err := http.Post(srv+path, "text/plain", body)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b), res.Header
	}
	if code, body, hdr := post("/v1/test-stream", slowBody(4<<10)); code != 200 || body != "4096" || hdr.Get("X-Request-ID") == "" {
		t.Fatalf("stream route without an API key, body over the limit and slower than the bound: %d %q", code, body)
	}
	if code, body, _ := post("/v1/test-client", strings.NewReader("hello")); code != 200 || body != "5" {
		t.Fatalf("client-token route without an API key: %d %q", code, body)
	}
	if code, _, _ := post("/v1/test-client", strings.NewReader(strings.Repeat("x", 4<<10))); code != 413 {
		t.Fatalf("client-token route with a body over the limit: %d", code)
	}
	if code, _, _ := post("/v1/app/keys", strings.NewReader("{}")); code != 401 {
		t.Fatalf("API-key route without a key: %d", code)
	}

	res, err := http.Get(srv + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if strings.Contains(string(metrics), "test-stream") || strings.Contains(log.String(), "test-stream") {
		t.Fatalf("a stream was timed:\n%s\n%s", metrics, log)
	}
	if !strings.Contains(string(metrics), `route="/v1/test-client"`) || !strings.Contains(log.String(), `"route":"/v1/test-client"`) {
		t.Fatalf("a client-token route was not timed:\n%s\n%s", metrics, log)
	}
}

package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/pushgate/pushgate/httpapi"
	"github.com/pushgate/pushgate/internal/testenv"
)

// bodyTimeout is the bound the tests set; the tests wait far longer than
// it before they call a connection held.
const bodyTimeout = 300 * time.Millisecond

// newBoundedServer serves the API over real connections (deadlines need
// them) with a short body timeout.
func newBoundedServer(t *testing.T) (*httptest.Server, *httpapi.Handler, string) {
	t.Helper()
	h, svc := newTestAPIOn(t, testenv.OpenDB(t, testenv.SQLiteURL(t)), httpapi.Options{BodyTimeout: bodyTimeout})
	creds, _ := svc.Create(context.Background(), "a")
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, h, creds.APIKey
}

// drip opens a connection, sends head (ending in a blank line) and then
// the body one byte every 50 ms, until the server closes the connection
// or stop is closed. It returns the connection for reading.
func drip(t *testing.T, addr, head, body string) (net.Conn, chan struct{}) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop); conn.Close() })
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	go func() {
		for i := 0; i < len(body); i++ {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := conn.Write([]byte{body[i]}); err != nil {
				return
			}
		}
	}()
	return conn, stop
}

// closedWithin reads what the server sends until it closes the
// connection, or fails the test when it is still open after wait.
func closedWithin(t *testing.T, conn net.Conn, wait time.Duration) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(wait))
	// EOF, or a reset when the server closed while the client was still
	// writing: either way closed. Only the deadline means still open.
	var ne net.Error
	if _, err := io.Copy(io.Discard, conn); errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the connection is still open after %s: %v", wait, err)
	}
}

// A client that sends its body slower than the bound is answered 408 and
// its connection closed, whether or not the handler reads the body.
func TestSlowBodyIsCutOff(t *testing.T) {
	srv, _, key := newBoundedServer(t)
	addr := srv.Listener.Addr().String()
	body := `{"name":"` + strings.Repeat("x", 90) + `"}` // 50 ms a byte: 5 s

	// Read by the handler: it answers once the bound has passed.
	conn, _ := drip(t, addr, fmt.Sprintf("POST /v1/app/keys HTTP/1.1\r\nHost: x\r\nx-token: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", key, len(body)), body)
	conn.SetReadDeadline(time.Now().Add(4 * time.Second))
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer while the body drips: %v", err)
	}
	var e httpapi.ErrorBody
	if err := json.NewDecoder(res.Body).Decode(&e); err != nil || res.StatusCode != 408 || e.Code != "request_timeout" || e.Message == "" {
		t.Fatalf("dripping body answered %d %+v (%v), want 408 request_timeout", res.StatusCode, e, err)
	}
	closedWithin(t, conn, 4*time.Second)

	// Not read (no API key): answered at once, and the rest of the body,
	// which net/http reads to reuse the connection, is bounded too.
	conn, _ = drip(t, addr, fmt.Sprintf("POST /v1/app/keys HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", len(body)), body)
	conn.SetReadDeadline(time.Now().Add(4 * time.Second))
	res, err = http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || res.StatusCode != 401 {
		t.Fatalf("unauthenticated drip: %v %v", res, err)
	}
	closedWithin(t, conn, 4*time.Second)

	// Chunked, on an unknown route.
	conn, _ = drip(t, addr, "POST /nowhere HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", strings.Repeat("1\r\nx\r\n", 100))
	closedWithin(t, conn, 4*time.Second)
}

// An upload slower than the bound (but steady) still passes: routes that
// take larger bodies get proportionally longer once the caller is known.
func TestSlowUploadPasses(t *testing.T) {
	srv, _, key := newBoundedServer(t)
	img := testJPEG(t, 400, 300)
	pr, pw := io.Pipe()
	go func() {
		// Four pieces over at least 3 × 150 ms, longer than the bound.
		n := len(img) / 4
		for i := 0; i < 4; i++ {
			end := (i + 1) * n
			if i == 3 {
				end = len(img)
			}
			if i > 0 {
				time.Sleep(150 * time.Millisecond)
			}
			pw.Write(img[i*n : end])
		}
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", srv.URL+"/v1/images", pr)
	req.ContentLength = int64(len(img))
	req.Header.Set("Content-Type", "image/jpeg")
	req.Header.Set("x-token", key)
	start := time.Now()
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("slow upload: %d %s", res.StatusCode, b)
	}
	if took := time.Since(start); took < bodyTimeout {
		t.Fatalf("the upload took %s, less than the bound: it proves nothing", took)
	}

	// An ordinary request and a large upload at full speed pass as ever.
	req, _ = http.NewRequest("POST", srv.URL+"/v1/images", bytes.NewReader(testJPEG(t, 2000, 1500)))
	req.Header.Set("Content-Type", "image/jpeg")
	req.Header.Set("x-token", key)
	if res, err := srv.Client().Do(req); err != nil || res.StatusCode != 200 {
		t.Fatalf("large upload: %v %v", res, err)
	}
}

// The bound covers reading a body, nothing else: a request without a body
// may run as long as it likes (a stream), and a handler that keeps reading
// a body for long clears the deadline as httpapi's doc says.
func TestLongLivedRequestsAreNotCut(t *testing.T) {
	srv, h, _ := newBoundedServer(t)
	h.HandleForTest("GET", "/test/stream", func(c *gin.Context) {
		for i := 0; i < 4; i++ {
			select {
			case <-c.Request.Context().Done():
				return
			case <-time.After(bodyTimeout / 2):
			}
			c.Writer.WriteString("event\n")
			c.Writer.Flush()
		}
	})
	h.HandleForTest("POST", "/test/stream", func(c *gin.Context) {
		if err := http.NewResponseController(c.Writer).SetReadDeadline(time.Time{}); err != nil {
			c.String(500, err.Error())
			return
		}
		b, err := io.ReadAll(c.Request.Body)
		if err != nil {
			c.String(500, err.Error())
			return
		}
		c.String(200, "%d", len(b))
	})

	res, err := srv.Client().Get(srv.URL + "/test/stream")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if strings.Count(string(b), "event") != 4 {
		t.Fatalf("a stream longer than the bound was cut: %q", b)
	}

	pr, pw := io.Pipe()
	go func() {
		for i := 0; i < 3; i++ {
			time.Sleep(bodyTimeout / 2)
			pw.Write([]byte("chunk"))
		}
		pw.Close()
	}()
	res, err = srv.Client().Post(srv.URL+"/test/stream", "text/plain", pr)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(b) != "15" {
		t.Fatalf("a streamed body whose handler cleared the deadline: %d %q", res.StatusCode, b)
	}
}

package imagecdn_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/imagecdn"
)

// An upload whose body breaks off (a multipart part that never ends, a
// client that hangs up) is the client's fault: 400, never an internal error.
// The answer is a fixed text: a read error names this node's own address
// ("read tcp 10.0.0.5:8080->…"), which is the operator's to see (logged),
// not the client's.
func TestUploadBodyThatBreaksOff(t *testing.T) {
	var logged bytes.Buffer
	p, store := newProcessor(t, imagecdn.Options{Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	png := encodePNG(t, photo(64, 64, 1))
	reset := errors.New("read tcp 10.0.0.5:8080->203.0.113.7:51234: read: connection reset by peer")
	body := io.MultiReader(bytes.NewReader(png[:100]), errReader{reset})
	_, err := p.Upload(context.Background(), body)
	e := wantCode(t, err, pushgate.EINVALID)
	if strings.Contains(e.Message, "10.0.0.5") || strings.Contains(e.Message, "reset") || e.Message != pushgate.ErrorMessage(err) {
		t.Fatalf("the answer shows the read error: %q", e.Message)
	}
	if !errors.Is(err, reset) {
		t.Fatalf("the read error is not kept for the log: %v", err)
	}
	if !strings.Contains(logged.String(), "10.0.0.5:8080") {
		t.Fatalf("the read error is not logged: %q", logged.String())
	}
	if n := store.puts.Load(); n != 0 {
		t.Fatalf("%d writes for a broken upload", n)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

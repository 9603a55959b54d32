package imagecdn_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/imagecdn"
)

// An upload whose body breaks off (a multipart part that never ends, a
// client that hangs up) is the client's fault: 400, never an internal error.
func TestUploadBodyThatBreaksOff(t *testing.T) {
	p, store := newProcessor(t, imagecdn.Options{})
	png := encodePNG(t, photo(64, 64, 1))
	body := io.MultiReader(bytes.NewReader(png[:100]), errReader{io.ErrUnexpectedEOF})
	_, err := p.Upload(context.Background(), body)
	wantCode(t, err, pushgate.EINVALID)
	if n := store.puts.Load(); n != 0 {
		t.Fatalf("%d writes for a broken upload", n)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

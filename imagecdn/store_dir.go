package imagecdn

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/pushgate/pushgate"
)

// DirStore is a Store in a local folder (by default under the server's data
// folder). Objects live in subfolders named by the key's first two hex
// digits, so no folder grows past a few thousand entries.
type DirStore struct {
	dir string
}

var _ Store = (*DirStore)(nil)

// NewDirStore returns a store in dir, creating it if needed.
func NewDirStore(dir string) (*DirStore, error) {
	if dir == "" {
		return nil, errors.New("imagecdn: DirStore needs a folder")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("imagecdn: %w", err)
	}
	return &DirStore{dir: dir}, nil
}

func (s *DirStore) path(key string) string {
	return filepath.Join(s.dir, key[:2], key)
}

// Put writes data to a temporary file in the object's folder, syncs it and
// renames it into place: an immutable object that a crash left half-written
// would be served, and cached by browsers, forever.
func (s *DirStore) Put(ctx context.Context, key, contentType string, data []byte) error {
	ct, ok := parseKey(key)
	if !ok {
		return pushgate.Errorf(pushgate.EINVALID, "invalid image key %q", key)
	}
	if ct != contentType {
		return pushgate.Errorf(pushgate.EINVALID, "image key %q is for %s, not %s", key, ct, contentType)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	p := s.path(key)
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("imagecdn: store: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return fmt.Errorf("imagecdn: store: %w", err)
	}
	tmp := f.Name()
	err = writeSync(f, data)
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("imagecdn: store %s: %w", key, err)
	}
	return nil
}

func writeSync(f *os.File, data []byte) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Open opens the object under key.
func (s *DirStore) Open(ctx context.Context, key string) (*Object, error) {
	ct, ok := parseKey(key)
	if !ok {
		return nil, pushgate.NotFound("image")
	}
	f, err := os.Open(s.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, pushgate.NotFound("image")
	}
	if err != nil {
		return nil, fmt.Errorf("imagecdn: store: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("imagecdn: store: %w", err)
	}
	return &Object{Body: f, Size: st.Size(), ContentType: ct, ModTime: st.ModTime()}, nil
}

// Has reports whether key is stored.
func (s *DirStore) Has(ctx context.Context, key string) (bool, error) {
	if _, ok := parseKey(key); !ok {
		return false, nil
	}
	_, err := os.Stat(s.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("imagecdn: store: %w", err)
	}
	return true, nil
}

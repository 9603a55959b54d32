package imagecdn_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/imagecdn"
)

var (
	hex64   = strings.Repeat("ab12", 16)
	jpgKey  = hex64 + "-icon.jpg"
	pngKey  = hex64 + "-badge.png"
	jsonKey = hex64 + ".json"
)

func TestDirStore(t *testing.T) {
	dir := t.TempDir()
	s, err := imagecdn.NewDirStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if ok, err := s.Has(ctx, jpgKey); ok || err != nil {
		t.Fatalf("empty store has %s: %v", jpgKey, err)
	}
	_, err = s.Open(ctx, jpgKey)
	wantCode(t, err, pushgate.ENOTFOUND)

	for key, ct := range map[string]string{jpgKey: "image/jpeg", pngKey: "image/png", jsonKey: "application/json"} {
		data := []byte("contents of " + key)
		if err := s.Put(ctx, key, ct, data); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ctx, key, ct, data); err != nil {
			t.Fatalf("second put: %v", err)
		}
		if ok, err := s.Has(ctx, key); !ok || err != nil {
			t.Fatalf("has %s: %t, %v", key, ok, err)
		}
		obj, err := s.Open(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(obj.Body)
		obj.Body.Close()
		if !bytes.Equal(got, data) || obj.Size != int64(len(data)) || obj.ContentType != ct || obj.ModTime.IsZero() {
			t.Fatalf("%s: %q, size %d, %s, %v", key, got, obj.Size, obj.ContentType, obj.ModTime)
		}
	}

	// Files are world-readable (a web server or backup may read them) and
	// no temporary file is left behind.
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if strings.HasPrefix(d.Name(), ".tmp") {
			t.Errorf("temporary file left: %s", p)
		}
		info, _ := d.Info()
		if info.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v", d.Name(), info.Mode())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestDirStoreRefusesBadKeys(t *testing.T) {
	dir := t.TempDir()
	s, _ := imagecdn.NewDirStore(filepath.Join(dir, "cdn"))
	ctx := context.Background()
	for _, key := range []string{
		"", "../../etc/passwd", hex64, hex64 + ".png", hex64 + "-icon", hex64 + "-icon.gif",
		strings.ToUpper(hex64) + "-icon.jpg", hex64[:63] + "-icon.jpg", hex64 + "-../x.jpg",
		hex64 + "-ICON.jpg", hex64 + "-icon.json", hex64 + "-icon.jpg/..", "../" + jpgKey,
	} {
		if err := s.Put(ctx, key, "image/jpeg", []byte("x")); err == nil {
			t.Errorf("put %q accepted", key)
		}
		if _, err := s.Open(ctx, key); pushgate.ErrorCode(err) != pushgate.ENOTFOUND {
			t.Errorf("open %q: %v", key, err)
		}
	}
	if err := s.Put(ctx, jpgKey, "image/png", []byte("x")); err == nil {
		t.Error("a .jpg key stored as image/png")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("files outside the store folder: %v", entries)
	}
}

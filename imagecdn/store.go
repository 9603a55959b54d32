package imagecdn

import (
	"context"
	"io"
	"strings"
	"time"
)

// Store keeps variants (and the manifests that list them) under their keys.
// Keys are content-addressed, so an object never changes once written:
// implementations may treat Put of an existing key as done, and readers may
// cache forever.
type Store interface {
	// Put stores data under key, atomically: Open sees all of data or
	// nothing, never a part. contentType must be the one the key's
	// extension stands for. Putting a key twice leaves one object.
	Put(ctx context.Context, key, contentType string, data []byte) error
	// Open returns the object under key, or an error coded
	// pushgate.ENOTFOUND. The caller closes Object.Body.
	Open(ctx context.Context, key string) (*Object, error)
	// Has reports whether key is stored.
	Has(ctx context.Context, key string) (bool, error)
}

// Object is a stored object, open for reading.
type Object struct {
	Body        io.ReadSeekCloser
	Size        int64
	ContentType string
	ModTime     time.Time
}

// contentTypes maps key extensions to content types: the key alone says
// what an object is, so no store needs a sidecar.
var contentTypes = map[string]string{
	"jpg":  "image/jpeg",
	"png":  "image/png",
	"json": "application/json",
}

// parseKey checks a key's shape: 64 lowercase hex digits, then an optional
// "-" and variant name, then "." and a known extension. It returns the
// content type the extension stands for. Nothing else is a key, which also
// keeps path separators and dots out of file names.
func parseKey(key string) (contentType string, ok bool) {
	if len(key) < 66 || !isLowerHex(key[:64]) {
		return "", false
	}
	rest := key[64:]
	dot := strings.IndexByte(rest, '.')
	if dot < 0 {
		return "", false
	}
	name, ext := rest[:dot], rest[dot+1:]
	if name != "" && (name[0] != '-' || !validName(name[1:])) {
		return "", false
	}
	ct, ok := contentTypes[ext]
	if !ok || name == "" && ext != "json" || name != "" && ext == "json" {
		return "", false
	}
	return ct, true
}

// isImageKey reports whether key names a variant, the only objects served.
func isImageKey(key string) bool {
	ct, ok := parseKey(key)
	return ok && strings.HasPrefix(ct, "image/")
}

func isLowerHex(s string) bool {
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

package server

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/pushgate/pushgate"
)

// keyring builds the master keyring. Without a configured key, an embedded
// installation keeps one in DataDir/master.key (mode 0600), made on first
// start; a PostgreSQL one must be given the key, since every node that shares
// the database must seal with the same key.
func (c *Config) keyring() (*pushgate.Keyring, error) {
	src := c.MasterKey
	if src == "" {
		if !c.embedded() {
			return nil, errors.New("master_key: required with PostgreSQL (every node must share it); make one with `openssl rand -base64 32`")
		}
		path := filepath.Join(c.DataDir, "master.key")
		b, err := os.ReadFile(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
				return nil, fmt.Errorf("master key: %w", err)
			}
			key := pushgate.NewMasterKey()
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return nil, fmt.Errorf("master key: %w", err)
			}
			if _, err := f.WriteString(key + "\n"); err != nil {
				f.Close()
				return nil, fmt.Errorf("master key: %w", err)
			}
			if err := f.Close(); err != nil {
				return nil, fmt.Errorf("master key: %w", err)
			}
			src = key
		case err != nil:
			return nil, fmt.Errorf("master key: %w", err)
		default:
			src = strings.TrimSpace(string(b))
		}
	}
	keys, err := pushgate.ParseMasterKeys(src)
	if err != nil {
		return nil, fmt.Errorf("master_key: %w", err)
	}
	return pushgate.NewKeyring(keys...)
}

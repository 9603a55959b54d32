package pushgate

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

var base64URL = base64.RawURLEncoding

// MasterKeySize is the length in bytes of a master key (AES-256).
const MasterKeySize = 32

const sealPrefix = "pgs1"

// Keyring seals secrets at rest with AES-256-GCM. The first key seals; every
// key opens. Each sealed value names the key that sealed it, so a master key
// can be rotated by putting the new key first and keeping the old one until
// every value has been sealed again.
//
// A sealed value looks like "pgs1:<key id>:<base64url(nonce|ciphertext)>"
// where the key id is the first 8 hex digits of SHA-256 of the key.
type Keyring struct {
	primary string
	aeads   map[string]cipher.AEAD
}

// NewKeyring returns a keyring of the given 32-byte keys, the first primary.
func NewKeyring(keys ...[]byte) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("keyring: no master key")
	}
	k := &Keyring{aeads: make(map[string]cipher.AEAD, len(keys))}
	for i, key := range keys {
		if len(key) != MasterKeySize {
			return nil, fmt.Errorf("keyring: master key %d is %d bytes, want %d", i+1, len(key), MasterKeySize)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("keyring: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("keyring: %w", err)
		}
		id := KeyID(key)
		if i == 0 {
			k.primary = id
		}
		k.aeads[id] = aead
	}
	return k, nil
}

// ParseMasterKeys parses a comma-separated list of base64 (standard or
// URL-safe, padded or not) or 64-digit hex master keys, primary first.
func ParseMasterKeys(s string) ([][]byte, error) {
	var keys [][]byte
	for i, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		key, err := decodeKey(part)
		if err != nil {
			return nil, fmt.Errorf("master key %d: %w", i+1, err)
		}
		keys = append(keys, key)
	}
	if len(keys) == 0 {
		return nil, errors.New("no master key given")
	}
	return keys, nil
}

func decodeKey(s string) ([]byte, error) {
	if len(s) == 2*MasterKeySize {
		if b, err := hex.DecodeString(s); err == nil {
			return b, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != MasterKeySize {
				return nil, fmt.Errorf("decodes to %d bytes, want %d", len(b), MasterKeySize)
			}
			return b, nil
		}
	}
	return nil, errors.New("not base64 or hex")
}

// NewMasterKey returns a fresh random master key, base64-encoded.
func NewMasterKey() string {
	b := make([]byte, MasterKeySize)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// KeyID names a master key without revealing it.
func KeyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:4])
}

// Seal encrypts plaintext. aad binds the value to where it is stored (for
// example "app-secret:<app id>"), so a sealed value copied to another row
// does not open.
func (k *Keyring) Seal(plaintext, aad []byte) string {
	aead := k.aeads[k.primary]
	buf := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	_, _ = rand.Read(buf)
	buf = aead.Seal(buf, buf, plaintext, aad)
	return sealPrefix + ":" + k.primary + ":" + base64URL.EncodeToString(buf)
}

// Open decrypts a value made by Seal with the same aad.
func (k *Keyring) Open(sealed string, aad []byte) ([]byte, error) {
	prefix, rest, ok := strings.Cut(sealed, ":")
	if !ok || prefix != sealPrefix {
		return nil, errors.New("open sealed value: unknown format")
	}
	id, body, ok := strings.Cut(rest, ":")
	if !ok {
		return nil, errors.New("open sealed value: unknown format")
	}
	aead, ok := k.aeads[id]
	if !ok {
		return nil, fmt.Errorf("open sealed value: sealed with master key %s, which is not configured", id)
	}
	raw, err := base64URL.DecodeString(body)
	if err != nil || len(raw) < aead.NonceSize()+aead.Overhead() {
		return nil, errors.New("open sealed value: corrupt")
	}
	pt, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], aad)
	if err != nil {
		return nil, errors.New("open sealed value: authentication failed")
	}
	return pt, nil
}

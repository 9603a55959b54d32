package inbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/pushgate/pushgate"
)

// TokenPrefix starts every client token: 43 base64url characters (32
// random bytes) follow.
const TokenPrefix = "pgt_"

const tokenLen = len(TokenPrefix) + 43

// HashToken is how client tokens are stored: the SHA-256 hex of the whole
// value. The 256 random bits make a slow hash unnecessary.
func HashToken(value string) string {
	sum := sha256.Sum256([]byte(value))
	return hex.EncodeToString(sum[:])
}

// CreateToken makes a client token for one user of the app and returns it
// with its value, which is shown once: only its hash is stored.
func (s *Service) CreateToken(ctx context.Context, appID, userID, name string) (*Token, string, error) {
	var fields []string
	if p := checkUserID(userID); p != "" {
		fields = append(fields, "userId: "+p)
	}
	if strings.TrimSpace(name) == "" {
		fields = append(fields, "name: is required")
	} else if p := checkText(name, maxTokenName); p != "" {
		fields = append(fields, "name: "+p)
	}
	if len(fields) > 0 {
		return nil, "", pushgate.Invalid("the token is invalid", fields...)
	}
	value := TokenPrefix + pushgate.RandomToken(32)
	t := &Token{ID: pushgate.NewID(), AppID: appID, UserID: userID, Name: name, Hash: HashToken(value), CreatedAt: s.clock()}
	if err := s.store.CreateToken(ctx, t); err != nil {
		return nil, "", err
	}
	return t, value, nil
}

var errBadToken = pushgate.Errorf(pushgate.EUNAUTHORIZED, "the client token is not valid")

// Authenticate returns the token whose value this is.
func (s *Service) Authenticate(ctx context.Context, value string) (*Token, error) {
	if len(value) != tokenLen || !strings.HasPrefix(value, TokenPrefix) || !base64URL(value[len(TokenPrefix):]) {
		return nil, errBadToken
	}
	t, err := s.store.TokenByHash(ctx, HashToken(value))
	if pushgate.ErrorCode(err) == pushgate.ENOTFOUND {
		return nil, errBadToken
	}
	return t, err
}

func base64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// ListTokens pages the app's tokens, of one user when userID is set.
func (s *Service) ListTokens(ctx context.Context, appID, userID, cursor string, limit int) ([]*Token, string, error) {
	limit, err := pageSize(limit)
	if err != nil {
		return nil, "", err
	}
	return s.store.ListTokens(ctx, appID, userID, cursor, limit)
}

// DeleteToken revokes a token; its open sessions are told to close.
func (s *Service) DeleteToken(ctx context.Context, appID, id string) error {
	t, err := s.store.DeleteToken(ctx, appID, id)
	if err != nil {
		return err
	}
	if l := s.listener(); l != nil {
		l.TokenRevoked(ctx, t)
	}
	return nil
}

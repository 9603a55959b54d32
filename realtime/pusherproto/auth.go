package pusherproto

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strings"
)

// Sign is hex(HMAC-SHA256(secret, message)): Pusher's signature of
// subscriptions, sign-ins and HTTP API requests.
func Sign(secret, message string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(message))
	return hex.EncodeToString(m.Sum(nil))
}

// checkAuth verifies an auth field, "key:signature", of message signed
// with the app's secret, comparing in constant time.
func checkAuth(app *App, auth, message string) bool {
	key, sig, ok := strings.Cut(auth, ":")
	if !ok {
		return false
	}
	want := Sign(app.Secret, message)
	keyOK := subtle.ConstantTimeCompare([]byte(key), []byte(app.Key))
	sigOK := subtle.ConstantTimeCompare([]byte(sig), []byte(want))
	return keyOK&sigOK == 1
}

// channelMessage is what a subscription's auth signs.
func channelMessage(socketID, channel, channelData string) string {
	if channelData == "" {
		return socketID + ":" + channel
	}
	return socketID + ":" + channel + ":" + channelData
}

// signinMessage is what a sign-in's auth signs.
func signinMessage(socketID, userData string) string {
	return socketID + "::user::" + userData
}

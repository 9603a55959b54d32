package httpapi

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/apps"
)

// pusherWindow is how far auth_timestamp may be from now (Pusher's 600 s).
const pusherWindow = 600 * time.Second

const ctxPusherBody = "pusherBody"

// pusherAuth checks Pusher's request signing on /apps/{appId}/...:
// auth_key is the app's key, auth_timestamp within 600 s of now,
// auth_version 1.0, body_md5 the body's MD5 (required with a body), and
// auth_signature hex(HMAC-SHA256(secret, "METHOD\nPATH\nPARAMS")) with
// PARAMS the other query parameters, keys lower-cased and sorted, joined
// as k=v with &. Every failure is a 401, an unknown app too (which app
// ids exist is nobody's business without its secret).
func (h *Handler) pusherAuth(c *gin.Context) {
	q := c.Request.URL.Query()
	var body []byte
	if c.Request.ContentLength != 0 && c.Request.Body != nil {
		b, err := readAll(c.Request.Body, c.Request.ContentLength)
		if err != nil {
			err = bodyReadError(err)
		} else {
			err = checkText(b) // NUL characters are refused at the door, as everywhere
		}
		if err != nil {
			h.writeError(c, err)
			return
		}
		body = b
	}
	app, problem, err := h.pusherApp(c, q, body)
	switch {
	case err != nil:
		h.writeError(c, err)
		return
	case problem != "":
		h.writeError(c, pushgate.Errorf(pushgate.EUNAUTHORIZED, "%s", problem))
		return
	}
	c.Set(ctxApp, app)
	c.Set(ctxPusherBody, body)
	c.Next()
}

// pusherApp is the app a signed request opens, or what is wrong with it,
// or the error of a store that could not say.
func (h *Handler) pusherApp(c *gin.Context, q url.Values, body []byte) (*apps.App, string, error) {
	for _, p := range []string{"auth_key", "auth_timestamp", "auth_version", "auth_signature"} {
		if len(q[p]) != 1 || q.Get(p) == "" {
			return nil, p + ": required, once", nil
		}
	}
	if q.Get("auth_version") != "1.0" {
		return nil, "auth_version: must be 1.0", nil
	}
	ts, err := strconv.ParseInt(q.Get("auth_timestamp"), 10, 64)
	if err != nil || math.Abs(float64(time.Now().Unix()-ts)) > pusherWindow.Seconds() {
		return nil, "auth_timestamp: must be within 600 seconds of the server's time", nil
	}
	if len(body) > 0 {
		sum := md5.Sum(body)
		if subtle.ConstantTimeCompare([]byte(q.Get("body_md5")), []byte(hex.EncodeToString(sum[:]))) != 1 {
			return nil, "body_md5: must be the hex MD5 of the body", nil
		}
	}
	app, err := h.opts.Apps.Lookup(c.Request.Context(), c.Param("appId"))
	switch code := pushgate.ErrorCode(err); {
	case code == pushgate.ENOTFOUND || code == pushgate.EINVALID:
		return nil, "auth_key: does not open this app", nil
	case err != nil:
		return nil, "", err
	case subtle.ConstantTimeCompare([]byte(app.Key), []byte(q.Get("auth_key"))) != 1:
		return nil, "auth_key: does not open this app", nil
	}
	m := hmac.New(sha256.New, []byte(app.Secret))
	m.Write([]byte(c.Request.Method + "\n" + c.Request.URL.Path + "\n" + pusherParams(q)))
	want := hex.EncodeToString(m.Sum(nil))
	if subtle.ConstantTimeCompare([]byte(q.Get("auth_signature")), []byte(want)) != 1 {
		return nil, "auth_signature: invalid signature", nil
	}
	return app, "", nil
}

// pusherParams is the signed form of the query: every parameter but
// auth_signature, keys lower-cased and sorted, k=v joined with &.
func pusherParams(q url.Values) string {
	var parts []string
	for k, vs := range q {
		if k == "auth_signature" {
			continue
		}
		for _, v := range vs {
			parts = append(parts, strings.ToLower(k)+"="+v)
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, "&")
}

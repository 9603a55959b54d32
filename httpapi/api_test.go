package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/apps"
	"github.com/pushgate/pushgate/httpapi"
	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/storage/sqlstore"
	"github.com/pushgate/pushgate/webhooks"
)

func newTestAPIOn(t testing.TB, db *sqlstore.DB, opts httpapi.Options) (*httpapi.Handler, *apps.Service) {
	t.Helper()
	keys, _ := pushgate.ParseMasterKeys(pushgate.NewMasterKey())
	kr, _ := pushgate.NewKeyring(keys...)
	svc := apps.NewService(db.Apps(), kr, apps.Options{})
	opts.Apps = svc
	opts.API = true
	if opts.Core.Buckets == nil {
		rate := opts.Core.BucketCreateRate
		opts.Core = coreOptions(t, db, kr)
		opts.Core.BucketCreateRate = rate
	}
	if opts.Inbox == nil {
		opts.Inbox = newFakeInbox()
	}
	if opts.ChannelWebhooks == nil {
		opts.ChannelWebhooks = newChannelDispatcher(t, db)
	}
	if opts.Events.Recorder == nil {
		opts.Events.Recorder = webhooks.NewRecorder(db.Webhooks(), webhooks.RecorderOptions{})
	}
	return httpapi.New(opts), svc
}

func newTestAPI(t *testing.T) (*httpapi.Handler, *apps.Service) {
	return newTestAPIOn(t, testenv.OpenDB(t, testenv.SQLiteURL(t)), httpapi.Options{})
}

type client struct {
	t  *testing.T
	h  http.Handler
	sc *specChecker
}

func newClient(t *testing.T, h http.Handler) *client {
	return &client{t: t, h: h, sc: newSpecChecker(t)}
}

// do sends a request and checks the answer against the spec.
func (c *client) do(method, path, body string, header ...string) *httptest.ResponseRecorder {
	c.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, req)
	c.sc.check(req, []byte(body), rec)
	return rec
}

func decodeError(t *testing.T, rec *httptest.ResponseRecorder) httpapi.ErrorBody {
	t.Helper()
	var e httpapi.ErrorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Code == "" || e.Message == "" || e.Errors == nil {
		t.Fatalf("answer %d %q is not in the error shape", rec.Code, rec.Body.String())
	}
	return e
}

func TestOperationsAndStatusRoutes(t *testing.T) {
	h, _ := newTestAPI(t)
	c := newClient(t, h)
	for _, path := range []string{"/", "/healthz", "/readyz", "/metrics", "/openapi.yaml", "/api/status/ping", "/api/status/info"} {
		if rec := c.do("GET", path, ""); rec.Code != 200 {
			t.Errorf("GET %s = %d %s", path, rec.Code, rec.Body)
		}
	}
	var info map[string]string
	json.Unmarshal(c.do("GET", "/api/status/info", "").Body.Bytes(), &info)
	if info["name"] != "pushgate" || info["version"] != pushgate.Version {
		t.Errorf("status info = %v", info)
	}
	var hello map[string]any
	json.Unmarshal(c.do("GET", "/", "").Body.Bytes(), &hello)
	if hello["currentVersion"] != pushgate.Version {
		t.Errorf("hello = %v", hello)
	}
}

func TestErrorsHaveOneShape(t *testing.T) {
	h, _ := newTestAPI(t)
	c := newClient(t, h)
	cases := []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "/nope", 404, pushgate.ENOTFOUND},
		{"POST", "/healthz", 405, "method_not_allowed"},
		{"GET", "/v1/app", 401, pushgate.EUNAUTHORIZED},
		{"DELETE", "/v1/app/keys/x", 401, pushgate.EUNAUTHORIZED},
	}
	for _, tc := range cases {
		rec := c.do(tc.method, tc.path, "")
		if rec.Code != tc.status {
			t.Errorf("%s %s = %d, want %d", tc.method, tc.path, rec.Code, tc.status)
			continue
		}
		if e := decodeError(t, rec); e.Code != tc.code {
			t.Errorf("%s %s code = %q, want %q", tc.method, tc.path, e.Code, tc.code)
		}
	}
}

func TestAPIKeyHeaders(t *testing.T) {
	h, svc := newTestAPI(t)
	c := newClient(t, h)
	creds, _ := svc.Create(context.Background(), "a")
	for _, hdr := range [][]string{
		{"x-token", creds.APIKey},
		{"authorization", "token=" + creds.APIKey},
		{"Authorization", "Bearer " + creds.APIKey},
		{"Authorization", "bearer " + creds.APIKey},
	} {
		rec := c.do("GET", "/v1/app", "", hdr...)
		if rec.Code != 200 {
			t.Errorf("%s: %s -> %d", hdr[0], hdr[1], rec.Code)
			continue
		}
		var app map[string]any
		json.Unmarshal(rec.Body.Bytes(), &app)
		if app["appId"] != creds.AppID || app["key"] != creds.Key || app["secret"] != nil {
			t.Errorf("GET /v1/app = %v", app)
		}
	}
	for _, hdr := range [][]string{
		{"Authorization", "Basic " + creds.APIKey},
		{"Authorization", creds.APIKey},
		{"x-token", creds.APIKey[:len(creds.APIKey)-1]},
		{"x-token", creds.Secret},
	} {
		if rec := c.do("GET", "/v1/app", "", hdr...); rec.Code != 401 {
			t.Errorf("%s: %s -> %d, want 401", hdr[0], hdr[1], rec.Code)
		}
	}
}

// One app's key never reads or changes another app's data.
func TestAppsAreIsolated(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		h, svc := newTestAPIOn(t, db, httpapi.Options{})
		c := newClient(t, h)
		ctx := context.Background()
		a, _ := svc.Create(ctx, "a")
		b, _ := svc.Create(ctx, "b")

		rec := c.do("POST", "/v1/app/keys", `{"name":"ci"}`, "x-token", b.APIKey)
		if rec.Code != 201 {
			t.Fatalf("create key: %d %s", rec.Code, rec.Body)
		}
		var bKey struct{ ID, Key string }
		json.Unmarshal(rec.Body.Bytes(), &bKey)
		if !strings.HasPrefix(bKey.Key, apps.APIKeyPrefix) {
			t.Fatalf("created key %+v", bKey)
		}

		var list struct{ Keys []map[string]any }
		json.Unmarshal(c.do("GET", "/v1/app/keys", "", "x-token", a.APIKey).Body.Bytes(), &list)
		if len(list.Keys) != 1 {
			t.Fatalf("app a sees %d keys, want its own 1", len(list.Keys))
		}
		for _, k := range list.Keys {
			if k["id"] == bKey.ID || k["key"] != nil || k["hash"] != nil {
				t.Fatalf("key list leaks: %v", k)
			}
		}
		if rec := c.do("DELETE", "/v1/app/keys/"+bKey.ID, "", "x-token", a.APIKey); rec.Code != 404 {
			t.Fatalf("app a revoked app b's key: %d", rec.Code)
		}
		if rec := c.do("GET", "/v1/app", "", "x-token", bKey.Key); rec.Code != 200 {
			t.Fatal("app b's key stopped working")
		}
		if rec := c.do("DELETE", "/v1/app/keys/"+bKey.ID, "", "x-token", b.APIKey); rec.Code != 204 {
			t.Fatalf("own revoke: %d %s", rec.Code, rec.Body)
		}
		if rec := c.do("GET", "/v1/app", "", "x-token", bKey.Key); rec.Code != 401 {
			t.Fatalf("revoked key: %d", rec.Code)
		}
		if rec := c.do("DELETE", "/v1/app/keys/not-an-id", "", "x-token", b.APIKey); rec.Code != 404 {
			t.Fatalf("malformed key id: %d", rec.Code)
		}
	})
}

func TestBadBodies(t *testing.T) {
	h, svc := newTestAPIOn(t, testenv.OpenDB(t, testenv.SQLiteURL(t)), httpapi.Options{MaxBodyBytes: 1024})
	c := newClient(t, h)
	creds, _ := svc.Create(context.Background(), "a")
	auth := []string{"x-token", creds.APIKey}
	cases := []struct {
		body   string
		status int
		want   string
	}{
		{"", 400, "empty"},
		{`{"name":`, 400, "not valid JSON"},
		{`{"name":5}`, 400, "name: expected string, got number"},
		{`{"name":"a"} {}`, 400, "one JSON value"},
		{`{"name":"` + strings.Repeat("x", 101) + `"}`, 400, "name"},
		{`{"name":"` + strings.Repeat("x", 2000) + `"}`, 413, "limit"},
	}
	for _, tc := range cases {
		rec := c.do("POST", "/v1/app/keys", tc.body, auth...)
		e := decodeError(t, rec)
		if rec.Code != tc.status || !strings.Contains(e.Message+strings.Join(e.Errors, " "), tc.want) {
			t.Errorf("body %.30q: %d %+v, want %d mentioning %q", tc.body, rec.Code, e, tc.status, tc.want)
		}
	}
	// A body that grows past the limit without a Content-Length is cut off too.
	req := httptest.NewRequest("POST", "/v1/app/keys", io.MultiReader(strings.NewReader(`{"name":"`), strings.NewReader(strings.Repeat("x", 4096)), strings.NewReader(`"}`)))
	req.ContentLength = -1
	req.Header.Set("x-token", creds.APIKey)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 413 {
		t.Fatalf("chunked oversize body: %d %s", rec.Code, rec.Body)
	}
	if keys, _ := svc.ListKeys(context.Background(), creds.AppID); len(keys) != 1 {
		t.Fatalf("rejected requests created keys: %d", len(keys))
	}
}

func TestPanicBecomes500(t *testing.T) {
	h, _ := newTestAPI(t)
	h.HandleForTest("GET", "/boom", func(*gin.Context) { panic("kaboom") })
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/boom", nil))
	e := decodeError(t, rec)
	if rec.Code != 500 || e.Code != pushgate.EINTERNAL || strings.Contains(rec.Body.String(), "kaboom") {
		t.Fatalf("panic answered %d %s", rec.Code, rec.Body)
	}
}

func TestReadiness(t *testing.T) {
	db := testenv.OpenDB(t, testenv.SQLiteURL(t))
	var redisErr error
	h, _ := newTestAPIOn(t, db, httpapi.Options{Ready: []httpapi.Check{
		{Name: "database", Func: func(ctx context.Context) error { return db.PingContext(ctx) }},
		{Name: "redis", Func: func(context.Context) error { return redisErr }},
	}})
	c := newClient(t, h)
	if rec := c.do("GET", "/readyz", ""); rec.Code != 200 {
		t.Fatalf("readyz = %d %s", rec.Code, rec.Body)
	}
	redisErr = errors.New("connection refused")
	rec := c.do("GET", "/readyz", "")
	if e := decodeError(t, rec); rec.Code != 503 || e.Code != pushgate.EUNAVAILABLE || len(e.Errors) != 1 || !strings.HasPrefix(e.Errors[0], "redis: connection refused") {
		t.Fatalf("readyz with redis down = %d %+v", rec.Code, e)
	}
	redisErr = nil
	h.SetDraining(true)
	if rec := c.do("GET", "/readyz", ""); rec.Code != 503 {
		t.Fatalf("readyz while draining = %d", rec.Code)
	}
	if rec := c.do("GET", "/healthz", ""); rec.Code != 200 {
		t.Fatalf("healthz while draining = %d", rec.Code)
	}
}

func TestRequestIDs(t *testing.T) {
	h, _ := newTestAPI(t)
	c := newClient(t, h)
	if got := c.do("GET", "/healthz", "", "X-Request-ID", "abc-123").Header().Get("X-Request-ID"); got != "abc-123" {
		t.Errorf("request id not echoed: %q", got)
	}
	got := c.do("GET", "/healthz", "", "X-Request-ID", "bad id\twith spaces").Header().Get("X-Request-ID")
	if !pushgate.ValidID(got) {
		t.Errorf("unsafe request id not replaced: %q", got)
	}
}

func TestMetricsCountRoutes(t *testing.T) {
	h, _ := newTestAPI(t)
	c := newClient(t, h)
	c.do("GET", "/v1/app", "")
	c.do("GET", "/no/such/thing", "")
	body := c.do("GET", "/metrics", "").Body.String()
	for _, want := range []string{
		`pushgate_http_requests_total{method="GET",route="/v1/app",status="401"} 1`,
		`pushgate_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`pushgate_http_request_duration_seconds_bucket{method="GET",route="/v1/app"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// A worker-only node serves the operations routes and nothing else.
func TestWorkerOnlyNode(t *testing.T) {
	h := httpapi.New(httpapi.Options{})
	for path, want := range map[string]int{"/healthz": 200, "/metrics": 200, "/v1/app": 404, "/api/status/ping": 404} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != want {
			t.Errorf("GET %s = %d, want %d", path, rec.Code, want)
		}
	}
}

// Labels come from closed sets, so no request can add a series: made-up
// methods are one value, unmatched paths another.
func TestMetricsLabelsAreBounded(t *testing.T) {
	h, _ := newTestAPI(t)
	series := func() (n int, body string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		for _, line := range strings.Split(rec.Body.String(), "\n") {
			if strings.HasPrefix(line, "pushgate_http_") {
				n++
			}
		}
		return n, rec.Body.String()
	}
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"} {
		for _, p := range []string{"/healthz", "/v1/app", "/nope"} {
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(m, p, nil))
		}
	}
	before, _ := series()
	for i := range 300 {
		m := fmt.Sprintf("M%d%s", i, strings.Repeat("X", i))
		for _, p := range []string{"/healthz", "/v1/app", fmt.Sprintf("/nope/%d", i)} {
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(m, p, nil))
		}
	}
	after, body := series()
	// The made-up methods share one label value: at most the series of
	// one more method (three routes, their statuses, a histogram each).
	if after-before > 60 {
		t.Errorf("300 made-up methods added %d series (from %d to %d)", after-before, before, after)
	}
	if !strings.Contains(body, `method="OTHER"`) || strings.Contains(body, `method="M1X"`) {
		t.Errorf("made-up methods are not counted as OTHER:\n%s", body)
	}
}

// Only admin keys manage keys; standard keys (the default) use the rest of
// the API; an app keeps its last admin key.
func TestKeyRoles(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		h, svc := newTestAPIOn(t, db, httpapi.Options{})
		c := newClient(t, h)
		creds, _ := svc.Create(context.Background(), "a")
		admin := []string{"x-token", creds.APIKey}

		type keyDTO struct{ ID, Name, Prefix, Role, Key string }
		create := func(body string, auth []string) (int, keyDTO) {
			rec := c.do("POST", "/v1/app/keys", body, auth...)
			var k keyDTO
			json.Unmarshal(rec.Body.Bytes(), &k)
			return rec.Code, k
		}
		code, std := create(`{"name":"backend"}`, admin)
		if code != 201 || std.Role != "standard" || !strings.HasPrefix(std.Key, apps.APIKeyPrefix) {
			t.Fatalf("create without a role: %d %+v", code, std)
		}
		code, ops := create(`{"name":"ops","role":"admin"}`, admin)
		if code != 201 || ops.Role != "admin" {
			t.Fatalf("create admin: %d %+v", code, ops)
		}
		rec := c.do("POST", "/v1/app/keys", `{"name":"x","role":"root"}`, admin...)
		if e := decodeError(t, rec); rec.Code != 400 || len(e.Errors) != 1 || !strings.HasPrefix(e.Errors[0], "role:") {
			t.Fatalf("unknown role: %d %+v", rec.Code, e)
		}

		// A standard key uses the API but cannot touch keys.
		stdAuth := []string{"x-token", std.Key}
		if rec := c.do("GET", "/v1/app", "", stdAuth...); rec.Code != 200 {
			t.Fatalf("standard key GET /v1/app: %d", rec.Code)
		}
		for _, r := range []struct{ method, path, body string }{
			{"GET", "/v1/app/keys", ""},
			{"POST", "/v1/app/keys", `{"name":"mine","role":"admin"}`},
			{"POST", "/v1/app/keys", `{"name":"mine"}`},
			{"DELETE", "/v1/app/keys/" + ops.ID, ""},
			{"DELETE", "/v1/app/keys/" + std.ID, ""},
		} {
			rec := c.do(r.method, r.path, r.body, stdAuth...)
			if e := decodeError(t, rec); rec.Code != 403 || e.Code != pushgate.EFORBIDDEN {
				t.Errorf("standard key %s %s: %d %+v, want 403 forbidden", r.method, r.path, rec.Code, e)
			}
		}

		var list struct{ Keys []keyDTO }
		json.Unmarshal(c.do("GET", "/v1/app/keys", "", admin...).Body.Bytes(), &list)
		roles := map[string]string{}
		for _, k := range list.Keys {
			roles[k.Name] = k.Role
		}
		if len(list.Keys) != 3 || roles["default"] != "admin" || roles["backend"] != "standard" || roles["ops"] != "admin" {
			t.Fatalf("key list: %+v", list.Keys)
		}

		// An admin key may revoke itself while another admin key remains;
		// the last one stays.
		keys, _ := svc.ListKeys(context.Background(), creds.AppID)
		if rec := c.do("DELETE", "/v1/app/keys/"+keys[0].ID, "", admin...); rec.Code != 204 {
			t.Fatalf("self-revoke with another admin left: %d %s", rec.Code, rec.Body)
		}
		if rec := c.do("GET", "/v1/app", "", admin...); rec.Code != 401 {
			t.Fatalf("self-revoked key still works: %d", rec.Code)
		}
		rec = c.do("DELETE", "/v1/app/keys/"+ops.ID, "", "x-token", ops.Key)
		if e := decodeError(t, rec); rec.Code != 409 || e.Code != pushgate.ECONFLICT {
			t.Fatalf("revoking the last admin key: %d %+v, want 409 conflict", rec.Code, e)
		}
		if rec := c.do("DELETE", "/v1/app/keys/"+std.ID, "", "x-token", ops.Key); rec.Code != 204 {
			t.Fatalf("admin revoking a standard key: %d", rec.Code)
		}
	})
}

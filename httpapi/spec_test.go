package httpapi_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/httpapi"
	"github.com/pushgate/pushgate/internal/testenv"
)

// An event stream's body is text to the checker (its events are the
// protocol's tests').
func init() { openapi3filter.RegisterBodyDecoder("text/event-stream", openapi3filter.FileBodyDecoder) }

func loadSpec(t *testing.T) (*openapi3.T, routers.Router) {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(pushgate.OpenAPI)
	if err != nil {
		t.Fatalf("openapi.yaml does not load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is not valid OpenAPI: %v", err)
	}
	doc.Servers = openapi3.Servers{{URL: "http://example.com"}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return doc, router
}

func TestSpecIsValid(t *testing.T) { loadSpec(t) }

// Every route in the router is in the spec, and every route in the spec is
// in the router.
func TestRoutesMatchSpec(t *testing.T) {
	doc, _ := loadSpec(t)
	h, _ := newTestAPIOn(t, testenv.OpenDB(t, testenv.SQLiteURL(t)), httpapi.Options{Realtime: &fakeRealtime{},
		Compat: httpapi.CompatOptions{Service: &fakeCompat{}, SocketIO: http.NotFoundHandler()}})
	inRouter := map[string]bool{}
	for _, r := range h.Routes() {
		inRouter[r] = true
	}
	inSpec := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			inSpec[method+" "+path] = true
		}
	}
	var missing, extra []string
	for r := range inRouter {
		if !inSpec[r] {
			missing = append(missing, r)
		}
	}
	for r := range inSpec {
		if !inRouter[r] {
			extra = append(extra, r)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("routes not in openapi.yaml: %v", missing)
	}
	if len(extra) > 0 {
		t.Errorf("openapi.yaml routes the router lacks: %v", extra)
	}
}

// specChecker validates requests and answers against openapi.yaml.
type specChecker struct {
	t      *testing.T
	router routers.Router
	// badRequests skips request checks for tests that send what the spec
	// forbids on purpose; answers are still checked.
	badRequests bool
}

func newSpecChecker(t *testing.T) *specChecker {
	_, r := loadSpec(t)
	return &specChecker{t: t, router: r}
}

// check fails the test if the answer to req is not what the spec says for
// that route and status. Requests to routes outside the spec are skipped.
func (sc *specChecker) check(req *http.Request, reqBody []byte, res *httptest.ResponseRecorder) {
	sc.t.Helper()
	u := *req.URL
	u.Scheme, u.Host = "http", "example.com"
	r2 := req.Clone(context.Background())
	r2.URL = &u
	r2.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, params, err := sc.router.FindRoute(r2)
	if err != nil {
		return
	}
	in := &openapi3filter.RequestValidationInput{
		Request: r2, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, ExcludeRequestBody: res.Code >= 400},
	}
	if res.Code < 400 && !sc.badRequests {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			sc.t.Errorf("%s %s: request does not match the spec: %v", req.Method, req.URL.Path, err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 res.Code,
		Header:                 res.Header(),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true},
	}
	out.SetBodyBytes(res.Body.Bytes())
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		sc.t.Errorf("%s %s -> %d: answer does not match the spec: %v", req.Method, req.URL.Path, res.Code, err)
	}
}

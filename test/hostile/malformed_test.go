package hostile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Status sets the cases accept. Every case also refuses any 5xx and any
// error answer outside the one JSON shape.
var (
	c400     = []int{400}
	c401     = []int{401}
	c405     = []int{405, 404} // 404 where another route of the method takes the path
	c413     = []int{413}
	cMissing = []int{404, 400}
	// cRefused is how input that must never be stored is turned away.
	cRefused = []int{400, 404, 422}
	// cClientOrOK accepts a lenient success or a refusal of the right kind.
	cClientOrOK = []int{200, 201, 204, 400, 404, 409, 413, 415, 422}
)

// want is what a case accepts.
type want struct {
	codes []int // statuses accepted; empty: any below 500
	// refused, for sends, also accepts a 200 whose answer refuses the
	// spoiled receiver.
	refused func(answer) bool
	// goLevel marks requests Go's HTTP server answers before any handler
	// runs (a broken request line or header): their status is checked, and
	// their shape is not, as no handler can catch them.
	goLevel bool
	// check adds checks of its own.
	check func(answer) []string
	// alone marks input a backend may fail to store: such cases run one
	// at a time, as a write that fails can fail the writes coalesced with
	// it (defect 1) and so make other cases fail by chance.
	alone bool
}

// mcase is one malformed request.
type mcase struct {
	name   string
	routes []string // the routes it probes, for coverage
	build  func() request
	raw    func() []byte // bytes written as they are, instead of build
	want   want
}

func (c *mcase) problems(a answer, head bool) []string {
	if a.err != nil {
		return []string{"no answer: " + a.err.Error()}
	}
	var p []string
	if a.status >= 500 {
		p = append(p, "server error: "+a.String())
	}
	if !c.want.goLevel && !head {
		p = append(p, errorShape(a)...)
	}
	if len(c.want.codes) > 0 && !slices.Contains(c.want.codes, a.status) &&
		!(c.want.refused != nil && a.status == 200 && c.want.refused(a)) {
		p = append(p, fmt.Sprintf("want %v, got %s", c.want.codes, a))
	}
	if c.want.check != nil {
		p = append(p, c.want.check(a)...)
	}
	return p
}

// TestMalformedRequests sends every route malformed JSON, values of the
// wrong type, NUL characters and invalid UTF-8 in every string, huge and
// deep values, ids of the wrong shape and of the other app, oversized
// bodies, wrong content types, odd methods and path tricks. Nothing may
// answer 5xx, every error is in the one JSON shape with a status of the
// right family, and the node answers /healthz afterwards.
func TestMalformedRequests(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newWorld(t, backend)
		routes := allRoutes(t, w.node)
		cases := malformedCases(w, routes)
		covered := map[string]int{}
		names := map[string]bool{}
		for _, c := range cases {
			if names[c.name] {
				t.Fatalf("two cases are named %q", c.name)
			}
			names[c.name] = true
			for _, r := range c.routes {
				covered[r]++
			}
		}
		if len(cases) < 300 {
			t.Errorf("only %d malformed cases; the suite promises at least 300", len(cases))
		}
		requireCoverage(t, routes, covered, "malformed-request")

		answers := make([]answer, len(cases))
		heads := make([]bool, len(cases))
		send := func(i int) {
			c := &cases[i]
			if c.raw != nil {
				answers[i] = w.raw(c.raw(), 10*time.Second)
				return
			}
			r := c.build()
			heads[i] = r.method == http.MethodHead
			answers[i] = w.do(r)
		}
		var together, alone []int
		for i, c := range cases {
			if c.want.alone {
				alone = append(alone, i)
			} else {
				together = append(together, i)
			}
		}
		run(len(together), 8, func(i int) { send(together[i]) })
		for _, i := range alone {
			send(i)
		}
		for i := range cases {
			c := &cases[i]
			t.Run(c.name, func(t *testing.T) {
				judge(t, backend, "malformed: "+c.name, c.problems(answers[i], heads[i]))
			})
		}
		t.Logf("%d malformed requests over %d routes", len(cases), len(routes))

		t.Run("an event that cannot be stored fails no other", func(t *testing.T) {
			judge(t, backend, "malformed: a client event that cannot be stored fails no other client's event", poisonedEvents(w))
		})
		t.Run("made-up methods are not metric labels", func(t *testing.T) {
			judge(t, backend, "malformed: made-up methods are not metric labels", madeUpMethods(w.node))
		})
		w.alive()
	})
}

// madeUpMethods sends requests with invented methods and checks that the
// metrics do not grow a series for each (defect 2).
func madeUpMethods(n *node) []string {
	for i := 0; i < 30; i++ {
		n.do(request{method: fmt.Sprintf("HOSTILE%04d", i), path: "/healthz"})
	}
	a := n.do(request{method: "GET", path: "/metrics"})
	if a.status != 200 {
		return []string{"GET /metrics: " + a.String()}
	}
	if n := bytes.Count(a.body, []byte(`method="HOSTILE`)); n > 0 {
		return []string{fmt.Sprintf("/metrics holds %d series labelled with methods a client made up", n)}
	}
	return nil
}

// poisonedEvents sends valid client events together with one whose
// action a backend may not store, in ten rounds: the valid ones are all
// recorded, whatever happens to the other (defect 1: they are written
// together, and fail together).
func poisonedEvents(w *world) []string {
	var p []string
	path := "/v1/context/" + w.a.context + "/events/"
	for round := 0; round < 10; round++ {
		answers := make([]answer, 31)
		run(len(answers), len(answers), func(i int) {
			body := map[string]any{"messageId": w.a.message}
			kind := "delivered"
			if i == 0 {
				body["action"], kind = "buy\x00", "clicked"
			}
			answers[i] = w.do(request{method: "POST", path: path + kind, body: marshal(body)})
		})
		for _, a := range answers[1:] {
			if a.status != 201 {
				p = append(p, fmt.Sprintf("round %d: a valid event beside an unstorable one got %s", round, a))
			}
		}
		if len(p) > 0 {
			break
		}
	}
	return p
}

// run calls fn(0..n-1) on workers goroutines.
func run(n, workers int, fn func(i int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Go(func() {
			for i := range next {
				fn(i)
			}
		})
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
}

// routeFx is how to make a valid request to one route, which the cases
// then spoil.
type routeFx struct {
	route string
	// params gives the path parameters of a valid request; it may create
	// what it names (a bucket to delete), so every request has its own.
	params func() map[string]string
	// other names the other app's resource for each parameter.
	other map[string]string
	key   string // API key; "" for public and client-token routes
	// fixed fills path parameters that take any value (no wrong-id
	// cases), query is appended to the path; both may be nil.
	fixed func() map[string]string
	query func() string
	// token is a client token, sent as "Authorization: Bearer", for the
	// routes that take one instead of an API key.
	token string
	// body makes a valid body; nil for routes without one.
	body        func() []byte
	contentType string
	bodyLimit   int64
	ok          []int // answers to the valid request
	// refusedAt, for sends, says whether an answer refuses the receiver
	// a spoiled value at path belongs to (nil: the path is no receiver's).
	refusedAt func(path string) func(answer) bool
}

func (f *routeFx) method() string { m, _, _ := strings.Cut(f.route, " "); return m }

// path fills the route's parameters.
func (f *routeFx) path(params map[string]string) string {
	_, p, _ := strings.Cut(f.route, " ")
	for k, v := range params {
		p = strings.ReplaceAll(p, "{"+k+"}", v)
	}
	if f.fixed != nil {
		for k, v := range f.fixed() {
			p = strings.ReplaceAll(p, "{"+k+"}", v)
		}
	}
	if f.query != nil {
		p += f.query()
	}
	return p
}

func (f *routeFx) request(params map[string]string, body []byte) request {
	r := request{method: f.method(), path: f.path(params), key: f.key, body: body}
	if f.contentType != "" && body != nil {
		r.header = http.Header{"Content-Type": {f.contentType}}
	}
	if f.token != "" {
		r.header = http.Header{"Authorization": {"Bearer " + f.token}}
	}
	return r
}

func (f *routeFx) valid() request {
	var params map[string]string
	if f.params != nil {
		params = f.params()
	}
	return f.request(params, f.validBody())
}

func (f *routeFx) validBody() []byte {
	if f.body == nil {
		return nil
	}
	return f.body()
}

// fixtures describes a valid request to every route the suite knows.
func fixtures(w *world) map[string]*routeFx {
	a, b := w.a, w.b
	static := func(kv ...string) func() map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func() map[string]string { return m }
	}
	bucketOnly := static("bucketId", a.bucket)
	otherBucket := map[string]string{"bucketId": b.bucket}
	jsonOf := func(f func() any) func() []byte { return func() []byte { return marshal(f()) } }
	fx := []*routeFx{
		{route: "GET /", ok: []int{200}},
		{route: "GET /healthz", ok: []int{200}},
		{route: "GET /readyz", ok: []int{200}},
		{route: "GET /metrics", ok: []int{200}},
		{route: "GET /openapi.yaml", ok: []int{200}},
		{route: "GET /api/status/ping", ok: []int{200}},
		{route: "GET /api/status/info", ok: []int{200}},
		{route: "GET /v1/app", key: a.key, ok: []int{200}},
		{route: "PATCH /v1/app", key: a.key, ok: []int{200},
			body: func() []byte { return []byte(`{"connectAuthUrl":null,"allowedOrigins":["https://app.example"]}`) }},
		{route: "GET /v1/app/keys", key: a.key, ok: []int{200}},
		{route: "POST /v1/app/keys", key: a.key, ok: []int{201},
			body: func() []byte { return []byte(`{"name":"ci","role":"standard"}`) }},
		{route: "DELETE /v1/app/keys/{keyId}", key: a.key, ok: []int{204},
			params: func() map[string]string { return map[string]string{"keyId": w.throwawayKey()} },
			other:  map[string]string{"keyId": b.keyID}},
		{route: "POST /v1/bucket", key: a.key, ok: []int{200},
			body: func() []byte { return []byte(w.bucketBody(w.hooks.URL + "/x")) }},
		{route: "GET /v1/bucket/{bucketId}", key: a.key, ok: []int{200}, params: bucketOnly, other: otherBucket},
		{route: "DELETE /v1/bucket/{bucketId}", key: a.key, ok: []int{204},
			params: func() map[string]string { return map[string]string{"bucketId": w.throwawayBucket()} },
			other:  otherBucket},
		{route: "POST /v1/bucket/{bucketId}/context/data", key: a.key, ok: []int{200}, params: bucketOnly, other: otherBucket,
			body: jsonOf(func() any { return w.dataContext() })},
		{route: "POST /v1/bucket/{bucketId}/context/raw", key: a.key, ok: []int{200}, params: bucketOnly, other: otherBucket,
			body: jsonOf(func() any { return w.rawContext() })},
		{route: "POST /v1/bucket/{bucketId}/context/silent", key: a.key, ok: []int{200}, params: bucketOnly, other: otherBucket,
			body: func() []byte { return []byte(`{"externalData":"{\"sync\":true}","ttl":60}`) }},
		{route: "GET /v1/bucket/{bucketId}/context/{contextId}", key: a.key, ok: []int{200},
			params: static("bucketId", a.bucket, "contextId", a.context), other: map[string]string{"bucketId": b.bucket, "contextId": b.context}},
		{route: "POST /v1/bucket/{bucketId}/context/{contextId}/send", key: a.key, ok: []int{200},
			params: static("bucketId", a.bucket, "contextId", a.context), other: map[string]string{"bucketId": b.bucket, "contextId": b.context},
			body:      jsonOf(func() any { return map[string]any{"receivers": w.receivers(a)} }),
			refusedAt: receiverOf},
		{route: "POST /v1/bucket/{bucketId}/send", key: a.key, ok: []int{200}, params: bucketOnly, other: otherBucket,
			body:      jsonOf(func() any { return map[string]any{"receiver": w.receivers(a)[0], "metadata": w.dataContext()} }),
			refusedAt: receiverOf},
		{route: "POST /v1/bucket/{bucketId}/send/silent", key: a.key, ok: []int{200}, params: bucketOnly, other: otherBucket,
			body: jsonOf(func() any {
				return map[string]any{"receiver": w.receivers(a)[1], "metadata": map[string]any{"externalData": "x", "ttl": 60}}
			}),
			refusedAt: receiverOf},
		{route: "POST /v1/bucket/{bucketId}/send/raw", key: a.key, ok: []int{200}, params: bucketOnly, other: otherBucket,
			body:      jsonOf(func() any { return map[string]any{"receiver": w.receivers(a)[0], "metadata": w.rawContext()} }),
			refusedAt: receiverOf},
		{route: "GET /v1/bucket/{bucketId}/message/{messageId}", key: a.key, ok: []int{200},
			params: static("bucketId", a.bucket, "messageId", a.message), other: map[string]string{"bucketId": b.bucket, "messageId": b.message}},
		{route: "GET /v1/bucket/{bucketId}/webhooks", key: a.key, ok: []int{200}, params: bucketOnly, other: otherBucket},
		{route: "POST /v1/bucket/{bucketId}/webhooks/{batchId}/redeliver", key: a.key, ok: []int{200, 409},
			params: static("bucketId", a.bucket, "batchId", a.batch), other: map[string]string{"bucketId": b.bucket, "batchId": b.batch}},
		{route: "GET /v1/app/webhooks", key: a.key, ok: []int{200}},
		{route: "POST /v1/app/webhooks/{batchId}/redeliver", key: a.key, ok: []int{200, 409},
			params: static("batchId", a.channelBatch), other: map[string]string{"batchId": b.channelBatch}},
		{route: "POST /v1/images", key: a.key, ok: []int{200}, contentType: "image/png",
			body: func() []byte { return w.png }, bodyLimit: 10<<20 + 64<<10},
		{route: "GET /cdn/{key}", ok: []int{200}, params: static("key", w.cdnKey)},
		{route: "HEAD /cdn/{key}", ok: []int{200}, params: static("key", w.cdnKey)},
	}
	fx = append(fx, inboxFixtures(w)...)
	fx = append(fx, compatFixtures(w)...)
	for _, kind := range []string{"delivered", "clicked", "closed"} {
		fx = append(fx,
			&routeFx{route: "OPTIONS /v1/context/{contextId}/events/" + kind, ok: []int{204},
				params: static("contextId", a.context), other: map[string]string{"contextId": b.context}},
			&routeFx{route: "POST /v1/context/{contextId}/events/" + kind, ok: []int{201},
				params: static("contextId", a.context), other: map[string]string{"contextId": b.context},
				body: func() []byte {
					return marshal(map[string]any{"messageId": a.message, "foreignId": "web-A", "action": "buy"})
				},
				bodyLimit: 8 << 10})
	}
	out := map[string]*routeFx{}
	for _, f := range fx {
		if f.bodyLimit == 0 {
			f.bodyLimit = w.cfg.MaxBodyBytes
		}
		out[f.route] = f
	}
	return out
}

var receiverIndex = regexp.MustCompile(`^receivers\[(\d+)\]|^receiver(\.|$)`)

// receiverOf says, for a spoiled value at path, how a send's answer shows
// that its receiver was refused: a result with errors and no messageId.
func receiverOf(path string) func(answer) bool {
	m := receiverIndex.FindStringSubmatch(path)
	if m == nil {
		return nil
	}
	return func(a answer) bool {
		type result struct {
			MessageID string   `json:"messageId"`
			Errors    []string `json:"errors"`
		}
		var r result
		if m[1] != "" {
			var all struct{ Results []result }
			var i int
			fmt.Sscan(m[1], &i)
			if json.Unmarshal(a.body, &all) != nil || i >= len(all.Results) {
				return false
			}
			r = all.Results[i]
		} else if json.Unmarshal(a.body, &r) != nil {
			return false
		}
		return r.MessageID == "" && len(r.Errors) > 0
	}
}

// throwawayKey creates an API key of app A for a case to revoke.
func (w *world) throwawayKey() string {
	var k struct{ ID string }
	a := w.call(w.a.key, "POST", "/v1/app/keys", `{"name":"throwaway","role":"standard"}`, &k)
	if a.status != 201 {
		return "no-key-" + a.String()
	}
	return k.ID
}

// throwawayBucket creates a bucket of app A for a case to delete.
func (w *world) throwawayBucket() string {
	var b struct{ BucketID string }
	pub, priv := vapidKeys()
	body := fmt.Sprintf(`{"providerCredentials":[{"type":"vapid","payload":{"publicKey":%q,"privateKey":%q}}],"callbackConfig":{"type":"none"}}`, pub, priv)
	a := w.call(w.a.key, "POST", "/v1/bucket", body, &b)
	if a.status != 200 {
		return "no-bucket"
	}
	return b.BucketID
}

// malformedCases builds the table over routes. A route with no fixture
// gets no cases, so the coverage check names it.
func malformedCases(w *world, routes []string) []mcase {
	fx := fixtures(w)
	var out []mcase
	add := func(f *routeFx, what string, want want, build func() request) {
		out = append(out, mcase{name: f.route + " | " + what, routes: []string{f.route}, build: build, want: want})
	}
	addRaw := func(f *routeFx, what string, want want, raw func() []byte) {
		want.goLevel = true
		out = append(out, mcase{name: f.route + " | " + what, routes: []string{f.route}, raw: raw, want: want})
	}
	for _, route := range routes {
		f, ok := fx[route]
		if !ok {
			continue
		}
		add(f, "the valid request", want{codes: f.ok}, f.valid)
		pathCases(f, add, addRaw)
		if f.key != "" {
			authCases(w, f, add)
		}
		if f.token != "" {
			clientAuthCases(w, f, add)
		}
		if f.params != nil {
			idCases(f, add)
		}
		if f.body != nil && f.route != "POST /v1/images" && !strings.HasPrefix(f.route, "POST /socket.io/") {
			bodyCases(f, add, addRaw)
		}
	}
	out = append(out, methodCases(fx, routes)...)
	out = append(out, specialCases(w, fx)...)
	out = append(out, inboxSpecialCases(w, fx)...)
	out = append(out, pusherCases(w)...)
	return out
}

// pathCases: the path a little off, a stray body, and junk queries.
func pathCases(f *routeFx, add func(*routeFx, string, want, func() request), addRaw func(*routeFx, string, want, func() []byte)) {
	variant := func(what string, change func(string) string) {
		add(f, what, want{}, func() request {
			r := f.valid()
			r.path = change(r.path)
			return r
		})
	}
	variant("path with a trailing slash", func(p string) string { return p + "/" })
	variant("path with a doubled slash", func(p string) string { return "/" + p })
	variant("path in upper case", strings.ToUpper)
	variant("path with a percent-encoded letter", func(p string) string {
		if len(p) < 2 {
			return "/%2E"
		}
		return fmt.Sprintf("/%%%02X%s", p[1], p[2:])
	})
	variant("path with a dot-dot segment", func(p string) string { return p + "/../" + p[strings.LastIndex(p, "/")+1:] })
	variant("path with an encoded NUL", func(p string) string { return p + "%00" })
	variant("path with a matrix parameter", func(p string) string { return p + ";x=1" })
	variant("junk query", func(p string) string { return p + "?%ff=%00&a[]=1&a[]=2&=&&;" })
	variant("16 KiB query", func(p string) string { return p + "?q=" + strings.Repeat("x", 16<<10) })
	if f.body == nil {
		add(f, "a body where none belongs", want{}, func() request {
			r := f.valid()
			r.body = []byte(`{"receivers":[` + strings.Repeat(`{"a":1},`, 100) + `{}]}`)
			return r
		})
	}
	badLine := []int{400, 404, 405}
	if f.method() == http.MethodOptions {
		// The longer path may be another route's preflight, which
		// answers for any id: it reveals nothing.
		badLine = append(badLine, 204)
	}
	addRaw(f, "invalid UTF-8 in the request line", want{codes: badLine}, func() []byte {
		r := f.valid()
		return rawRequest(r.method, r.path+"/\xff\xfe", r)
	})
	addRaw(f, "Content-Length and Transfer-Encoding both", want{}, func() []byte {
		r := f.valid()
		return []byte(fmt.Sprintf("%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\nAuthorization: token=%s\r\n\r\n0\r\n\r\n", r.method, r.path, r.key))
	})
}

// rawRequest renders r as HTTP/1.1 bytes with path as given.
func rawRequest(method, path string, r request) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: hostile\r\nConnection: close\r\n", method, path)
	if r.key != "" {
		fmt.Fprintf(&b, "Authorization: token=%s\r\n", r.key)
	} else if auth := r.header.Get("Authorization"); auth != "" {
		fmt.Fprintf(&b, "Authorization: %s\r\n", auth)
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(r.body))
	b.Write(r.body)
	return b.Bytes()
}

// authCases: the API key missing, empty, altered, oversized or of another
// scheme. The valid request's body and path are kept.
func authCases(w *world, f *routeFx, add func(*routeFx, string, want, func() request)) {
	header := func(what string, h http.Header) {
		add(f, what, want{codes: c401}, func() request {
			r := f.valid()
			r.key = ""
			if r.header == nil {
				r.header = http.Header{}
			}
			for k, v := range h {
				r.header[k] = v
			}
			return r
		})
	}
	header("no API key", nil)
	header("empty token=", http.Header{"Authorization": {"token="}})
	// The last character replaced by another (a key may end in "x").
	changed := "x"
	if strings.HasSuffix(f.key, changed) {
		changed = "y"
	}
	header("API key with a byte changed", http.Header{"Authorization": {"Bearer " + f.key[:len(f.key)-1] + changed}})
	header("API key in upper case", http.Header{"X-Token": {strings.ToUpper(f.key)}})
	header("10 KiB x-token", http.Header{"X-Token": {"pgk_" + strings.Repeat("A", 10<<10)}})
	header("Basic credentials", http.Header{"Authorization": {"Basic cm9vdDpyb290"}})
	header("the app id as API key", http.Header{"X-Token": {w.a.id}})
}

// wrongIDs are path parameter values of the wrong shape.
func wrongIDs(own string) [][2]string {
	return [][2]string{
		{"word", "x"},
		{"number", "12345"},
		{"nil UUID", "00000000-0000-0000-0000-000000000000"},
		{"own id in upper case", strings.ToUpper(own)},
		{"own id with a character more", own + "0"},
		{"own id in braces", "%7B" + own + "%7D"},
		{"4 KiB id", strings.Repeat("a", 4<<10)},
		{"encoded NUL", own + "%00"},
		{"encoded dot-dot", "%2e%2e"},
		{"encoded slash", own + "%2F.."},
		{"SQL", "%27%20OR%20%271%27%3D%271"},
		{"unicode", "%C3%BCn%C3%AFc%C3%B8d%C3%A9"},
		{"invalid UTF-8", "%ff%fe"},
		{"newline", "a%0D%0ASet-Cookie:%20x=1"},
	}
}

// idCases: every path parameter replaced by ids of the wrong shape and by
// the other app's id of the same kind.
func idCases(f *routeFx, add func(*routeFx, string, want, func() request)) {
	valid := f.params()
	missing, other := cMissing, []int{404}
	if f.method() == http.MethodOptions {
		// A preflight answers for any id: it reveals nothing.
		missing, other = []int{204, 404, 400}, []int{204, 404}
	}
	names := make([]string, 0, len(valid))
	for k := range valid {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, name := range names {
		for _, id := range wrongIDs(valid[name]) {
			codes := missing
			if id[0] == "encoded slash" {
				codes = append(codes[:len(codes):len(codes)], 405) // the path has more segments now
			}
			add(f, fmt.Sprintf("%s: %s", name, id[0]), want{codes: codes}, func() request {
				p := maps(f.params())
				p[name] = id[1]
				return f.request(p, f.validBody())
			})
		}
		if id, ok := f.other[name]; ok {
			add(f, fmt.Sprintf("%s: the other app's", name), want{codes: other}, func() request {
				p := maps(f.params())
				p[name] = id
				return f.request(p, f.validBody())
			})
		}
	}
}

func maps(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

var malformedJSON = [][2]string{
	{"an open brace", `{`},
	{"a close brace", `}`},
	{"a missing value", `{"a":}`},
	{"a missing colon", `{"a" 1}`},
	{"a trailing comma", `{"a":1,}`},
	{"single quotes", `{'a':1}`},
	{"a leading zero", `{"a":01}`},
	{"NaN", `{"a":NaN}`},
	{"trailing garbage", `{} x`},
	{"two documents", `{}{}`},
	{"a comment", `/* c */ {}`},
	{"a bad escape", `{"a":"\x"}`},
	{"a raw control character", "{\"a\":\"\x01\"}"},
	{"a byte-order mark", "\xef\xbb\xbf{}"},
	{"UTF-16", "\xff\xfe{\x00}\x00"},
	{"20,000 nested arrays", strings.Repeat("[", 20000) + strings.Repeat("]", 20000)},
	{"20,000 nested objects", strings.Repeat(`{"a":`, 20000) + "1" + strings.Repeat("}", 20000)},
}

// bodyCases: syntax errors, bodies of the wrong shape, every value spoiled
// in turn, huge and deep values, oversized bodies and wrong content types.
func bodyCases(f *routeFx, add func(*routeFx, string, want, func() request), addRaw func(*routeFx, string, want, func() []byte)) {
	withBody := func(body []byte) func() request {
		return func() request {
			r := f.valid()
			r.body = body
			return r
		}
	}
	for _, m := range malformedJSON {
		codes := c400
		if int64(len(m[1])) > f.bodyLimit {
			codes = []int{400, 413}
		}
		add(f, "malformed JSON: "+m[0], want{codes: codes}, withBody([]byte(m[1])))
	}
	add(f, "truncated body", want{codes: c400}, func() request {
		r := f.valid()
		r.body = r.body[:len(r.body)/2]
		return r
	})
	for _, top := range []string{`[]`, `"body"`, `42`, `true`, ` `} {
		add(f, "body is "+top, want{codes: c400}, withBody([]byte(top)))
	}
	// null is an object left unset: a route whose fields are all optional
	// may take it.
	add(f, "body is null", want{codes: cClientOrOK}, withBody([]byte(`null`)))
	add(f, "empty body", want{codes: c400}, withBody([]byte{}))

	base := f.body()
	for _, m := range mutations(base) {
		w := want{codes: cClientOrOK}
		if f.refusedAt != nil {
			w.refused = f.refusedAt(m.path)
		}
		switch m.kind {
		case "nul":
			w.codes = cRefused
		case "type":
			if w.refused != nil {
				w.codes = c400 // a receiver of the wrong shape is refused
			}
		}
		w.alone = m.kind == "nul" || m.kind == "utf8"
		add(f, m.kind+" at "+m.path, w, withBody(m.body))
	}
	for _, m := range deepValues(base) {
		add(f, "deep value at "+m.path, want{codes: cClientOrOK}, withBody(m.body))
	}

	pad := func(extra int64) []byte {
		b := f.body()
		return append(b, bytes.Repeat([]byte(" "), int(f.bodyLimit)-len(b)+int(extra))...)
	}
	add(f, "body one byte over the limit", want{codes: c413}, func() request {
		r := f.valid()
		r.body = pad(1)
		return r
	})
	// Cut off while decoding, a chunked body is answered 400 or 413.
	add(f, "chunked body over the limit", want{codes: []int{400, 413}}, func() request {
		r := f.valid()
		r.body, r.noLength = pad(64<<10), true
		return r
	})
	addRaw(f, "negative Content-Length", want{codes: c400}, func() []byte {
		r := f.valid()
		raw := rawRequest(r.method, r.path, r)
		return bytes.Replace(raw, []byte(fmt.Sprintf("Content-Length: %d", len(r.body))), []byte("Content-Length: -1"), 1)
	})
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=zz",
		"application/xml", "application/json; charset=utf-16", "image/png"} {
		add(f, "Content-Type "+ct, want{codes: cClientOrOK}, func() request {
			r := f.valid()
			r.header = http.Header{"Content-Type": {ct}}
			return r
		})
	}
	add(f, "no Content-Type", want{codes: cClientOrOK}, func() request {
		r := f.valid()
		r.header = http.Header{"Content-Type": nil}
		return r
	})
}

// deepValues replaces each object and array of base with 5,000 nested
// arrays: within what a JSON decoder allows, past what a recursive
// renderer should meet.
func deepValues(base []byte) []mutation {
	var out []mutation
	deep := strings.Repeat("[", 5000) + strings.Repeat("]", 5000)
	for _, m := range mutations(base) {
		if m.kind != "type" || !(bytes.Contains(m.body, []byte(`["x"]`)) || bytes.Contains(m.body, []byte(`{"x":1}`))) {
			continue
		}
		b := bytes.Replace(m.body, []byte(`["x"]`), []byte(deep), 1)
		b = bytes.Replace(b, []byte(`{"x":1}`), []byte(deep), 1)
		out = append(out, mutation{kind: "deep", path: m.path, body: b})
	}
	return out
}

// methodCases: every path with the methods it does not serve, made-up ones
// among them.
func methodCases(fx map[string]*routeFx, routes []string) []mcase {
	byPath := map[string][]string{}
	for _, r := range routes {
		if _, ok := fx[r]; !ok {
			continue
		}
		_, p, _ := strings.Cut(r, " ")
		byPath[p] = append(byPath[p], r)
	}
	var out []mcase
	for p, rs := range byPath {
		served := methodsOf(routes, p)
		// Made from a request with its credentials, where the path has
		// one: a preflight's would meet the authentication of a route
		// whose parameter takes the path (GET /v1/inbox/read-all is GET
		// /v1/inbox/{notificationId}).
		f := fx[rs[0]]
		for _, r := range rs {
			if fx[r].key != "" || fx[r].token != "" {
				f = fx[r]
				break
			}
		}
		for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE", "PROPFIND", "HOSTILE", "TRACE"} {
			if served[m] {
				continue
			}
			out = append(out, mcase{name: fmt.Sprintf("%s %s | odd method", m, p), routes: rs, want: want{codes: c405},
				build: func() request {
					r := f.valid()
					r.method = m
					return r
				}})
		}
	}
	return out
}

// specialCases are the ones a route's own rules call for.
func specialCases(w *world, fx map[string]*routeFx) []mcase {
	var out []mcase
	add := func(route, what string, want want, build func() request) {
		out = append(out, mcase{name: route + " | " + what, routes: []string{route}, build: build, want: want})
	}
	withBody := func(route string, body any) func() request {
		return func() request {
			r := fx[route].valid()
			switch b := body.(type) {
			case string:
				r.body = []byte(b)
			default:
				r.body = marshal(b)
			}
			return r
		}
	}
	withContext := func(route string, change func(map[string]any)) func() request {
		return func() request {
			r := fx[route].valid()
			var m map[string]any
			json.Unmarshal(r.body, &m)
			change(m)
			r.body = marshal(m)
			return r
		}
	}
	big := strings.Repeat("x", 900<<10)

	const keys = "POST /v1/app/keys"
	add(keys, "name of 101 characters", want{codes: c400}, withBody(keys, map[string]any{"name": strings.Repeat("n", 101)}))
	add(keys, "name of 900 KiB", want{codes: c400}, withBody(keys, map[string]any{"name": big}))
	add(keys, "unknown role", want{codes: c400}, withBody(keys, map[string]any{"name": "ci", "role": "root"}))

	const bucket = "POST /v1/bucket"
	bucketWith := func(change func(map[string]any)) func() request { return withContext(bucket, change) }
	callback := func(m map[string]any) map[string]any {
		return m["callbackConfig"].(map[string]any)["payload"].(map[string]any)
	}
	add(bucket, "21 credentials", want{codes: c400}, bucketWith(func(m map[string]any) {
		creds := m["providerCredentials"].([]any)
		for len(creds) < 21 {
			creds = append(creds, creds[3])
		}
		m["providerCredentials"] = creds
	}))
	add(bucket, "no credentials", want{codes: c400}, bucketWith(func(m map[string]any) { m["providerCredentials"] = []any{} }))
	add(bucket, "unknown credential type", want{codes: c400}, bucketWith(func(m map[string]any) {
		m["providerCredentials"].([]any)[0].(map[string]any)["type"] = "carrier_pigeon"
	}))
	add(bucket, "websocket credential with a payload member", want{codes: c400}, bucketWith(func(m map[string]any) {
		m["providerCredentials"] = []any{map[string]any{"type": "websocket", "payload": map[string]any{"secret": "x"}}}
	}))
	add(bucket, "21 callback headers", want{codes: c400}, bucketWith(func(m map[string]any) {
		h := map[string]any{}
		for i := 0; i < 21; i++ {
			h[fmt.Sprintf("X-H%d", i)] = "v"
		}
		callback(m)["headers"] = h
	}))
	add(bucket, "callback header name with NUL", want{codes: c400, alone: true}, bucketWith(func(m map[string]any) {
		callback(m)["headers"] = map[string]any{"X-A\x00": "v"}
	}))
	add(bucket, "callback header value with CRLF", want{codes: c400}, bucketWith(func(m map[string]any) {
		callback(m)["headers"] = map[string]any{"X-A": "v\r\nX-Injected: 1"}
	}))
	add(bucket, "callback header webhook-signature", want{codes: c400}, bucketWith(func(m map[string]any) {
		callback(m)["headers"] = map[string]any{"Webhook-Signature": "v1,forged"}
	}))
	for _, u := range []string{"javascript:alert(1)", "file:///etc/passwd", "gopher://127.0.0.1:6379/_FLUSHALL", "http://", "//hooks.example/x", "https://" + strings.Repeat("a", 3000) + ".example/"} {
		add(bucket, "callback URL "+trunc(u, 40), want{codes: c400}, bucketWith(func(m map[string]any) { callback(m)["url"] = u }))
	}
	add(bucket, "batchSize 0", want{codes: c400}, bucketWith(func(m map[string]any) { callback(m)["batchSize"] = 0 }))
	add(bucket, "batchSize 1e9", want{codes: c400}, bucketWith(func(m map[string]any) { callback(m)["batchSize"] = 1e9 }))
	add(bucket, "flushIntervalMs -1", want{codes: c400}, bucketWith(func(m map[string]any) { callback(m)["flushIntervalMs"] = -1 }))
	add(bucket, "flushIntervalMs 1.5", want{codes: c400}, bucketWith(func(m map[string]any) { callback(m)["flushIntervalMs"] = 150.5 }))

	for _, route := range []string{"POST /v1/bucket/{bucketId}/context/data", "POST /v1/bucket/{bucketId}/send"} {
		data := func(change func(map[string]any)) func() request {
			return withContext(route, func(m map[string]any) {
				if md, ok := m["metadata"].(map[string]any); ok {
					change(md)
				} else {
					change(m)
				}
			})
		}
		add(route, "title of 900 KiB", want{codes: []int{400, 413}}, data(func(m map[string]any) { m["title"] = big }))
		add(route, "externalData of 900 KiB", want{codes: []int{400, 413}}, data(func(m map[string]any) { m["externalData"] = big }))
		add(route, "1,000 actions", want{codes: c400}, data(func(m map[string]any) {
			a := m["actions"].([]any)
			for len(a) < 1000 {
				a = append(a, a[0])
			}
			m["actions"] = a
		}))
		add(route, "100,000 vibrations", want{codes: cClientOrOK}, data(func(m map[string]any) {
			v := make([]any, 100000)
			for i := range v {
				v[i] = 100
			}
			m["vibrate"] = v
		}))
		for _, ttl := range []any{-1, 0.5, 1e308, -1e308, "3600"} {
			add(route, fmt.Sprintf("ttl %v", ttl), want{codes: cClientOrOK}, data(func(m map[string]any) { m["ttl"] = ttl }))
		}
		for _, exp := range []string{"2000-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "not a date", "2026-13-45T99:99:99Z", "0001-01-01T00:00:00Z"} {
			add(route, "expiresAt "+exp, want{codes: cClientOrOK}, data(func(m map[string]any) { m["expiresAt"] = exp }))
		}
		add(route, "ttl 1e400", want{codes: c400}, func() request {
			r := fx[route].valid()
			r.body = bytes.Replace(r.body, []byte(`"ttl":3600`), []byte(`"ttl":1e400`), 1)
			return r
		})
		add(route, "badge 1e300", want{codes: cClientOrOK}, data(func(m map[string]any) { m["badge"] = 1e300 }))
		add(route, "image URL with credentials", want{codes: c400}, data(func(m map[string]any) { m["image"] = "http://user:pass@shop.example/a.png" }))
		add(route, "image URL of file scheme", want{codes: c400}, data(func(m map[string]any) { m["image"] = "file:///etc/passwd" }))
		add(route, "behaviour javascript:", want{codes: cClientOrOK}, data(func(m map[string]any) { m["behaviour"] = "javascript:alert(document.cookie)" }))
	}

	const send = "POST /v1/bucket/{bucketId}/context/{contextId}/send"
	receivers := func(rs ...any) func() request { return withBody(send, map[string]any{"receivers": rs}) }
	add(send, "1,001 receivers", want{codes: c413}, func() request {
		rs := make([]any, 1001)
		for i := range rs {
			rs[i] = w.receivers(w.a)[1]
		}
		return withBody(send, map[string]any{"receivers": rs})()
	})
	add(send, "no receivers", want{codes: c400}, receivers())
	add(send, "receivers null", want{codes: c400}, withBody(send, `{"receivers":null}`))
	add(send, "receiver that is a number names no Go type", want{codes: []int{200, 400}, check: noGoTypes},
		withBody(send, `{"receivers":[5]}`))
	add(send, "foreignId of 256 characters", want{codes: c400, refused: receiverOf("receivers[0]")},
		receivers(map[string]any{"credentialId": w.a.cred["fcm_v1"], "foreignId": strings.Repeat("f", 256), "token": "fcm-token:x"}))
	add(send, "receiver of the other app's credential", want{codes: c400, refused: receiverOf("receivers[0]")},
		receivers(map[string]any{"credentialId": w.b.cred["fcm_v1"], "token": "fcm-token:x"}))
	add(send, "websocket receiver with a token instead of a userId", want{codes: c400, refused: receiverOf("receivers[0]")},
		receivers(map[string]any{"credentialId": w.a.cred["websocket"], "token": "user-1"}))
	add(send, "websocket user id of 10,000 characters", want{codes: c400, refused: receiverOf("receivers[0]")},
		receivers(map[string]any{"credentialId": w.a.cred["websocket"], "userId": strings.Repeat("u", 10000)}))
	add(send, "websocket user id with a control character", want{codes: c400, refused: receiverOf("receivers[0]")},
		receivers(map[string]any{"credentialId": w.a.cred["websocket"], "userId": "a\u001bb"}))
	add(send, "APNS token of 10,000 digits", want{codes: c400, refused: receiverOf("receivers[0]")},
		receivers(map[string]any{"credentialId": w.a.cred["apns_token"], "token": strings.Repeat("a", 10000)}))
	add(send, "Web Push endpoint of a non-http scheme", want{codes: c400, refused: receiverOf("receivers[0]")},
		func() request {
			r := subscription(w.a.cred["vapid"], "file:///etc/passwd")
			return receivers(r)()
		})
	add(send, "Web Push key not on the curve", want{codes: c400, refused: receiverOf("receivers[0]")},
		func() request {
			r := subscription(w.a.cred["vapid"], w.web.URL+"/push/x")
			r["p256dh"] = "BAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
			return receivers(r)()
		})

	const list = "GET /v1/bucket/{bucketId}/webhooks"
	for _, q := range []string{"limit=abc", "limit=0", "limit=501", "limit=99999999999999999999", "limit=-1", "status=x",
		"status=%00", "before=x", "before=" + strings.Repeat("9", 5000)} {
		add(list, "query "+trunc(q, 30), want{codes: c400}, func() request {
			r := fx[list].valid()
			r.path += "?" + q
			return r
		})
	}
	add(list, "the other app's batch as cursor", want{codes: []int{200, 400}, check: hides(w.b.batch)}, func() request {
		r := fx[list].valid()
		r.path += "?before=" + w.b.batch
		return r
	})

	const channelList = "GET /v1/app/webhooks"
	for _, q := range []string{"limit=abc", "limit=0", "limit=501", "limit=99999999999999999999", "limit=-1", "status=x",
		"status=%00", "before=x", "before=" + strings.Repeat("9", 5000)} {
		add(channelList, "query "+trunc(q, 30), want{codes: c400}, func() request {
			r := fx[channelList].valid()
			r.path += "?" + q
			return r
		})
	}
	add(channelList, "the other app's batch as cursor", want{codes: []int{200, 400}, check: hides(w.b.channelBatch)}, func() request {
		r := fx[channelList].valid()
		r.path += "?before=" + w.b.channelBatch
		return r
	})
	add(channelList, "a bucket batch as cursor", want{codes: []int{200, 400}, check: hides(w.a.batch)}, func() request {
		r := fx[channelList].valid()
		r.path += "?before=" + w.a.batch
		return r
	})

	for _, kind := range []string{"delivered", "clicked", "closed"} {
		route := "POST /v1/context/{contextId}/events/" + kind
		add(route, "the other app's messageId", want{codes: []int{404}}, withBody(route, map[string]any{"messageId": w.b.message}))
		add(route, "no messageId", want{codes: c400}, withBody(route, map[string]any{"action": "buy"}))
		add(route, "body over 8 KiB", want{codes: c413}, withBody(route, map[string]any{"messageId": w.a.message, "action": strings.Repeat("a", 9<<10)}))
	}

	const upload = "POST /v1/images"
	image := func(ct string, body []byte) func() request {
		return func() request {
			r := fx[upload].valid()
			r.body = body
			r.header = http.Header{"Content-Type": {ct}}
			if ct == "" {
				r.header = http.Header{"Content-Type": nil}
			}
			return r
		}
	}
	cUnusable := []int{400, 413, 415, 422}
	add(upload, "empty body", want{codes: cUnusable}, image("image/png", []byte{}))
	add(upload, "text", want{codes: cUnusable}, image("image/png", []byte("hello, world")))
	add(upload, "JSON", want{codes: cUnusable}, image("application/json", []byte(`{"image":"x"}`)))
	add(upload, "truncated PNG", want{codes: cUnusable}, image("image/png", w.png[:100]))
	add(upload, "PNG signature and garbage", want{codes: cUnusable}, image("image/png", append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0xAB}, 4096)...)))
	add(upload, "SVG with a script", want{codes: cUnusable}, image("image/svg+xml", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`)))
	add(upload, "4 KiB of NUL bytes", want{codes: cUnusable}, image("image/png", make([]byte, 4096)))
	add(upload, "no Content-Type", want{codes: []int{200}}, image("", w.png))
	add(upload, "Content-Type that lies", want{codes: []int{200}}, image("image/jpeg", w.png))
	add(upload, "multipart without boundary", want{codes: c400}, image("multipart/form-data", w.png))
	add(upload, "multipart without a file", want{codes: c400}, image("multipart/form-data; boundary=zz", []byte("--zz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nb\r\n--zz--\r\n")))
	add(upload, "multipart that never ends", want{codes: []int{400, 422}}, image("multipart/form-data; boundary=zz", []byte("--zz\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n\r\n"+string(w.png[:50]))))
	add(upload, "multipart with an image", want{codes: []int{200}}, image("multipart/form-data; boundary=zz",
		append(append([]byte("--zz\r\nContent-Disposition: form-data; name=\"image\"; filename=\"../../a.png\"\r\nContent-Type: image/png\r\n\r\n"), w.png...), "\r\n--zz--\r\n"...)))
	add(upload, "body over the limit", want{codes: c413}, func() request {
		r := image("image/png", append(append([]byte{}, w.png...), make([]byte, 10<<20+64<<10)...))()
		return r
	})
	add(upload, "chunked body over the limit", want{codes: c413}, func() request {
		r := image("image/png", append(append([]byte{}, w.png...), make([]byte, 11<<20)...))()
		r.noLength = true
		return r
	})

	for _, route := range []string{"GET /cdn/{key}", "HEAD /cdn/{key}"} {
		method, _, _ := strings.Cut(route, " ")
		cdn := func(path string, h http.Header) func() request {
			return func() request { return request{method: method, path: path, header: h} }
		}
		noSecret := func(a answer) []string {
			if a.status < 400 {
				return []string{fmt.Sprintf("a path out of the CDN was answered %d", a.status)}
			}
			if mk, err := os.ReadFile(filepath.Join(w.cfg.DataDir, "master.key")); err == nil && len(mk) > 8 && bytes.Contains(a.body, bytes.TrimSpace(mk)) {
				return []string{"the answer holds the master key"}
			}
			return nil
		}
		for _, p := range []string{"/cdn/..%2fmaster.key", "/cdn/..%2f..%2f..%2f..%2fetc%2fpasswd", "/cdn/%2e%2e%2fpushgate.db",
			"/cdn/....//....//etc/passwd", "/cdn/" + w.cdnKey + "%00.png", "/cdn/%5c..%5cmaster.key", "/cdn/.", "/cdn/..", "/cdn/%2e"} {
			add(route, "traversal "+p, want{codes: []int{400, 404, 301}, check: noSecret}, cdn(p, nil))
		}
		key := "/cdn/" + w.cdnKey
		add(route, "Range past the end", want{codes: []int{200, 416}}, cdn(key, http.Header{"Range": {"bytes=999999999-"}}))
		add(route, "Range of junk", want{codes: []int{200, 416}}, cdn(key, http.Header{"Range": {"bytes=z-q"}}))
		add(route, "If-None-Match of 64 KiB", want{codes: []int{200, 304}}, cdn(key, http.Header{"If-None-Match": {strings.Repeat(`"x",`, 16<<10)}}))
		if method == "GET" {
			add(route, "2,000 ranges", want{codes: []int{200, 206, 416}, check: smallerThan(w.cdnSize)},
				cdn(key, http.Header{"Range": {"bytes=" + strings.TrimSuffix(strings.Repeat("0-0,", 2000), ",")}}))
		}
	}

	for _, kind := range []string{"delivered", "clicked", "closed"} {
		route := "OPTIONS /v1/context/{contextId}/events/" + kind
		add(route, "preflight for DELETE from a null origin", want{codes: []int{204, 403, 405}}, func() request {
			r := fx[route].valid()
			r.header = http.Header{"Origin": {"null"}, "Access-Control-Request-Method": {"DELETE"}, "Access-Control-Request-Headers": {"authorization, x-token"}}
			return r
		})
	}

	for _, route := range []string{"GET /", "GET /healthz", "GET /readyz", "GET /metrics", "GET /openapi.yaml", "GET /api/status/ping", "GET /api/status/info"} {
		add(route, "48 KiB cookie", want{codes: []int{200}}, func() request {
			r := fx[route].valid()
			r.header = http.Header{"Cookie": {"a=" + strings.Repeat("c", 48<<10)}}
			return r
		})
		add(route, "X-Request-ID that is not an id", want{codes: []int{200}, check: saneRequestID}, func() request {
			r := fx[route].valid()
			r.header = http.Header{"X-Request-Id": {"<script>alert(1)</script>" + strings.Repeat("x", 500)}}
			return r
		})
	}
	return out
}

func trunc(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// noGoTypes refuses answers that show Go's type names (defect 11).
func noGoTypes(a answer) []string {
	for _, s := range []string{"recipients.", "Go value", "Go struct", "json: "} {
		if bytes.Contains(a.body, []byte(s)) {
			return []string{fmt.Sprintf("the answer shows Go internals (%q): %.300s", s, a.body)}
		}
	}
	return nil
}

// hides refuses answers that contain secret.
func hides(secret string) func(answer) []string {
	return func(a answer) []string {
		if bytes.Contains(a.body, []byte(secret)) {
			return []string{fmt.Sprintf("the answer shows %s, which is the other app's", secret)}
		}
		return nil
	}
}

// smallerThan refuses answers more than twice an image of size bytes and
// its headers (defect 11: many ranges make an answer many times the image).
func smallerThan(size int) func(answer) []string {
	return func(a answer) []string {
		if len(a.body) > 2*size+16<<10 {
			return []string{fmt.Sprintf("a %d-byte image was answered with %d bytes", size, len(a.body))}
		}
		return nil
	}
}

func saneRequestID(a answer) []string {
	if id := a.header.Get("X-Request-Id"); strings.ContainsAny(id, "<>") || len(id) > 64 {
		return []string{fmt.Sprintf("the answer echoes a hostile X-Request-ID: %.80q", id)}
	}
	return nil
}

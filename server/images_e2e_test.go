package server

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/pushgate/pushgate/delivery"
	"github.com/pushgate/pushgate/internal/testenv"
)

// imageOrigin is a shop's web server holding the images its notifications
// name: a 1200x800 JPEG at any path ending .jpg, a 256x256 PNG at .png,
// 404 elsewhere. Answers wait delay.
type imageOrigin struct {
	*httptest.Server
	requests atomic.Int64
	delay    atomic.Int64 // nanoseconds
}

func newImageOrigin(t *testing.T) *imageOrigin {
	o := &imageOrigin{}
	picture := func(w, h int) image.Image {
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				img.Set(x, y, color.RGBA{uint8(x), uint8(y), 90, 255})
			}
		}
		return img
	}
	var jpg, pngb bytes.Buffer
	jpeg.Encode(&jpg, picture(1200, 800), nil)
	png.Encode(&pngb, picture(256, 256))
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.requests.Add(1)
		time.Sleep(time.Duration(o.delay.Load()))
		switch {
		case strings.HasSuffix(r.URL.Path, ".jpg"):
			w.Write(jpg.Bytes())
		case strings.HasSuffix(r.URL.Path, ".png"):
			w.Write(pngb.Bytes())
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(o.Close)
	return o
}

// cdnImage fetches a CDN URL of the node and checks it is a cacheable image.
func cdnImage(t *testing.T, a *api, url, variant string) {
	t.Helper()
	if !strings.HasPrefix(url, a.base+"/cdn/") || !strings.Contains(url, "-"+variant+".") {
		t.Fatalf("image URL %q is not the node's %s variant (%s/cdn/...)", url, variant, a.base)
	}
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	img, _, err := image.Decode(res.Body)
	if res.StatusCode != 200 || err != nil || !strings.HasPrefix(res.Header.Get("Content-Type"), "image/") || !strings.Contains(res.Header.Get("Cache-Control"), "immutable") {
		t.Fatalf("GET %s: %d %v (%v)", url, res.StatusCode, res.Header, err)
	}
	if variant == "large" && img.Bounds().Dx() != 2*img.Bounds().Dy() {
		t.Fatalf("large variant is %v, not 2:1", img.Bounds())
	}
}

// TestContextImagesThroughTheNode: messages sent while a context's images
// are being processed wait for them and go out with CDN URLs; a context
// whose image cannot be fetched fails with the reason, and its sends are
// refused.
func TestContextImagesThroughTheNode(t *testing.T) {
	f := newFakes(t)
	f.images.delay.Store(int64(700 * time.Millisecond))
	_, a := startNode(t, f.config(t, testenv.SQLiteURL(t)))
	var bucket struct {
		BucketID    string
		Credentials []struct{ ID string }
	}
	if code := a.call("POST", "/v1/bucket", f.bucketBody(), &bucket); code != 200 {
		t.Fatalf("bucket: %d", code)
	}
	var c struct{ ContextID string }
	began := time.Now()
	a.call("POST", "/v1/bucket/"+bucket.BucketID+"/context/data", `{"title":"Slow image","image":"`+f.images.URL+`/slow.jpg"}`, &c)
	if time.Since(began) > 500*time.Millisecond {
		t.Fatalf("creating the context waited %v for its image", time.Since(began))
	}
	var st struct{ Status, Reason string }
	a.call("GET", "/v1/bucket/"+bucket.BucketID+"/context/"+c.ContextID, nil, &st)
	if st.Status != "processing" {
		t.Fatalf("context status right after creation: %+v", st)
	}
	sub := f.web.NewSubscriptionFor(f.vapidPub)
	if code := a.call("POST", "/v1/bucket/"+bucket.BucketID+"/context/"+c.ContextID+"/send", map[string]any{"receivers": []any{sub.Receiver(bucket.Credentials[3].ID)}}, nil); code != 200 {
		t.Fatalf("send while processing: %d", code)
	}
	waitFor(t, time.Minute, "the waiting message is delivered", func() bool { return len(f.web.Delivered()) == 1 })
	var wp struct{ Image string }
	json.Unmarshal(f.web.Delivered()[0].Payload, &wp)
	cdnImage(t, a, wp.Image, "large")

	var bad struct{ ContextID string }
	a.call("POST", "/v1/bucket/"+bucket.BucketID+"/context/data", `{"title":"Broken","icon":"`+f.images.URL+`/gone"}`, &bad)
	// Sent while the image is still being fetched: the message waits, then
	// fails with the image.
	var early struct{ Results []struct{ MessageID string } }
	if code := a.call("POST", "/v1/bucket/"+bucket.BucketID+"/context/"+bad.ContextID+"/send", map[string]any{"receivers": []any{sub.Receiver(bucket.Credentials[3].ID)}}, &early); code != 200 {
		t.Fatalf("send while the broken image is fetched: %d", code)
	}
	waitFor(t, time.Minute, "the waiting message of the broken context fails", func() bool {
		var m struct{ Status, Reason string }
		a.call("GET", "/v1/bucket/"+bucket.BucketID+"/message/"+early.Results[0].MessageID, nil, &m)
		return m.Status == "failed" && m.Reason == "bad_image"
	})
	waitFor(t, 20*time.Second, "the context with a missing image fails", func() bool {
		a.call("GET", "/v1/bucket/"+bucket.BucketID+"/context/"+bad.ContextID, nil, &st)
		return st.Status == "failed"
	})
	if !strings.Contains(st.Reason, "/gone") || !strings.Contains(st.Reason, "404") {
		t.Fatalf("reason %q names neither the image nor the 404", st.Reason)
	}
	var refused struct{ Message, Code string }
	if code := a.call("POST", "/v1/bucket/"+bucket.BucketID+"/context/"+bad.ContextID+"/send", map[string]any{"receivers": []any{sub.Receiver(bucket.Credentials[3].ID)}}, &refused); code != 422 || !strings.Contains(refused.Message, "404") {
		t.Fatalf("send of the failed context: %d %+v", code, refused)
	}

	// Uploads go to the same CDN.
	req, _ := http.NewRequest("POST", a.base+"/v1/images", bytes.NewReader(func() []byte {
		var b bytes.Buffer
		jpeg.Encode(&b, image.NewRGBA(image.Rect(0, 0, 600, 400)), nil)
		return b.Bytes()
	}()))
	req.Header.Set("x-token", a.key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var up struct {
		Variants []struct{ Variant, URL string }
	}
	if err := json.NewDecoder(res.Body).Decode(&up); err != nil || res.StatusCode != 200 || len(up.Variants) != 4 {
		t.Fatalf("upload: %d %+v %v", res.StatusCode, up, err)
	}
	for _, v := range up.Variants {
		cdnImage(t, a, v.URL, v.Variant)
	}
}

// TestLostImageJobIsRecovered: a context whose processing job Redis lost
// is processed by the maintenance of a worker node anyway.
func TestLostImageJobIsRecovered(t *testing.T) {
	f := newFakes(t)
	cfg := f.config(t, testenv.SQLiteURL(t))
	cfg.Roles = []string{RoleAPI}
	apiNode, a := startNode(t, cfg)
	var bucket struct{ BucketID string }
	if code := a.call("POST", "/v1/bucket", f.bucketBody(), &bucket); code != 200 {
		t.Fatalf("bucket: %d", code)
	}
	var c struct{ ContextID string }
	a.call("POST", "/v1/bucket/"+bucket.BucketID+"/context/data", `{"title":"Lost","image":"`+f.images.URL+`/lost.jpg"}`, &c)
	opt, err := asynq.ParseRedisURI(cfg.RedisURL)
	if err != nil {
		t.Fatal(err)
	}
	inspector := asynq.NewInspector(opt)
	defer inspector.Close()
	if err := inspector.DeleteTask(apiNode.Queue.Name(delivery.QueueDefault), "images:"+c.ContextID); err != nil {
		t.Fatalf("the context's job was not queued: %v", err)
	}

	worker := cfg
	worker.Roles = []string{RoleWorker}
	worker.HTTPAddr = "127.0.0.1:0"
	worker.DeliveryStaleAfter, worker.MaintenanceInterval = time.Second, time.Second
	startNode(t, worker)
	var st struct{ Status string }
	waitFor(t, 30*time.Second, "the context is processed after its job was lost", func() bool {
		a.call("GET", "/v1/bucket/"+bucket.BucketID+"/context/"+c.ContextID, nil, &st)
		return st.Status == "ready"
	})
}

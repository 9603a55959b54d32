package imagecdn_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/imagecdn"
)

// stored reads a variant back from the store.
func stored(t testing.TB, s imagecdn.Store, key string) ([]byte, string) {
	t.Helper()
	obj, err := s.Open(context.Background(), key)
	if err != nil {
		t.Fatalf("variant %s: %v", key, err)
	}
	defer obj.Body.Close()
	b, err := io.ReadAll(obj.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b, obj.ContentType
}

var keyPattern = regexp.MustCompile(`^[0-9a-f]{64}-(icon|badge|large|ios)\.(jpg|png)$`)

func TestVariantSizes(t *testing.T) {
	type size struct{ w, h int }
	tests := []struct {
		name   string
		data   []byte
		ios    size
		format string // of the icon, large and ios variants
	}{
		{"landscape photo", encodeJPEG(t, photo(800, 600, 1)), size{800, 600}, "jpeg"},
		{"big landscape photo", encodeJPEG(t, photo(2400, 1600, 2)), size{1024, 683}, "jpeg"},
		{"portrait photo", encodeJPEG(t, photo(300, 900, 3)), size{300, 900}, "jpeg"},
		{"big portrait photo", encodeJPEG(t, photo(1200, 3000, 4)), size{410, 1024}, "jpeg"},
		{"thin strip", encodeJPEG(t, photo(2000, 10, 5)), size{1024, 5}, "jpeg"},
		{"tiny opaque png", encodePNG(t, photo(50, 40, 6)), size{50, 40}, "jpeg"},
		{"gray jpeg", encodeJPEG(t, grayPhoto(500, 300)), size{500, 300}, "jpeg"},
		{"16-bit png", encodePNG(t, deepPhoto(1500, 1000)), size{1024, 683}, "jpeg"},
		{"png with transparency", transparentPNG(t, 400, 400), size{400, 400}, "png"},
		{"gif", twoFrameGIF(t, 300, 150), size{300, 150}, "jpeg"},
		{"webp", solidWebP(640, 480, color.NRGBA{200, 100, 50, 255}), size{640, 480}, "jpeg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, store := newProcessor(t, imagecdn.Options{})
			res, err := p.Upload(context.Background(), bytes.NewReader(tt.data))
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]struct {
				size
				format string
			}{
				"icon":  {size{192, 192}, tt.format},
				"badge": {size{96, 96}, "png"},
				"large": {size{1024, 512}, tt.format},
				"ios":   {tt.ios, tt.format},
			}
			if len(res.Variants) != len(want) {
				t.Fatalf("%d variants", len(res.Variants))
			}
			for _, im := range res.Variants {
				w := want[im.Variant]
				if im.Width != w.w || im.Height != w.h {
					t.Errorf("%s: %dx%d, want %dx%d", im.Variant, im.Width, im.Height, w.w, w.h)
				}
				if !keyPattern.MatchString(im.Key) || !strings.Contains(im.Key, "-"+im.Variant+".") {
					t.Errorf("%s: key %q", im.Variant, im.Key)
				}
				if im.URL != "https://push.example.com/cdn/"+im.Key {
					t.Errorf("%s: URL %q", im.Variant, im.URL)
				}
				b, ct := stored(t, store, im.Key)
				img, format := decodeBytes(t, b)
				if format != w.format || ct != "image/"+w.format || im.ContentType != ct {
					t.Errorf("%s: stored as %s (%s, answered %s), want %s", im.Variant, format, ct, im.ContentType, w.format)
				}
				if img.Bounds().Dx() != w.w || img.Bounds().Dy() != w.h || int64(len(b)) != im.Size {
					t.Errorf("%s: stored %v, %d bytes; answered %dx%d, %d bytes", im.Variant, img.Bounds(), len(b), im.Width, im.Height, im.Size)
				}
			}
		})
	}
}

func grayPhoto(w, h int) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(i % 251)
	}
	return img
}

func deepPhoto(w, h int) *image.RGBA64 {
	img := image.NewRGBA64(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetRGBA64(x, y, color.RGBA64{uint16(x * 40), uint16(y * 60), 0x8000, 0xffff})
		}
	}
	return img
}

func TestVariantsKeepTransparencyAndBadgeIsGray(t *testing.T) {
	p, store := newProcessor(t, imagecdn.Options{})
	res, err := p.Upload(context.Background(), bytes.NewReader(transparentPNG(t, 400, 200)))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"icon", "large", "ios", "badge"} {
		im, _ := res.Image(name)
		b, _ := stored(t, store, im.Key)
		img, _ := decodeBytes(t, b)
		var clear, opaque int
		for y := 0; y < img.Bounds().Dy(); y++ {
			for x := 0; x < img.Bounds().Dx(); x++ {
				c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
				switch c.A {
				case 0:
					clear++
				case 255:
					opaque++
					if name == "badge" && (c.R != c.G || c.G != c.B) {
						t.Fatalf("badge pixel %d,%d is %v, not gray", x, y, c)
					}
				}
			}
		}
		if clear == 0 || opaque == 0 {
			t.Errorf("%s: %d transparent and %d opaque pixels, want both", name, clear, opaque)
		}
	}
}

func TestVariantsCarryNoMetadata(t *testing.T) {
	src := encodeJPEG(t, photo(600, 400, 7))
	src = withSegment(src, 0xfe, []byte("secret comment"))
	src = withExif(src, 1)
	if !bytes.Contains(src, []byte("Exif")) || !bytes.Contains(src, []byte("SpyCam")) {
		t.Fatal("test source has no EXIF")
	}
	p, store := newProcessor(t, imagecdn.Options{})
	res, err := p.Upload(context.Background(), bytes.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	for _, im := range res.Variants {
		b, _ := stored(t, store, im.Key)
		for _, marker := range []string{"Exif", "SpyCam", "secret comment"} {
			if bytes.Contains(b, []byte(marker)) {
				t.Errorf("%s carries %q", im.Variant, marker)
			}
		}
	}
}

func TestVariantsAreUpright(t *testing.T) {
	// Stored 400x200 with red in the top-left quarter, tagged "rotate 90°
	// clockwise to view": upright it is 200x400 with red top right.
	src := withExif(encodeJPEG(t, photo(400, 200, 8)), 6)
	p, store := newProcessor(t, imagecdn.Options{})
	res, err := p.Upload(context.Background(), bytes.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	im, _ := res.Image("ios")
	if im.Width != 200 || im.Height != 400 {
		t.Fatalf("ios variant %dx%d, want 200x400", im.Width, im.Height)
	}
	b, _ := stored(t, store, im.Key)
	img, _ := decodeBytes(t, b)
	red := func(x, y int) bool {
		c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
		return c.R > 200 && c.G < 60 && c.B < 60
	}
	if !red(150, 50) || red(50, 50) || red(150, 300) {
		t.Fatalf("not upright: red at top right %t, top left %t, bottom right %t", red(150, 50), red(50, 50), red(150, 300))
	}
}

func TestProcessFetchesAndResizesOnce(t *testing.T) {
	body := encodeJPEG(t, photo(640, 480, 9))
	srv := newImageServer(t, body)
	p, store := newProcessor(t, imagecdn.Options{})
	ctx := context.Background()

	first, err := p.Process(ctx, srv.imageURL())
	if err != nil {
		t.Fatal(err)
	}
	if first.Reused {
		t.Fatal("first result says reused")
	}
	puts := store.puts.Load()
	if puts != 5 { // four variants and the manifest
		t.Fatalf("%d writes, want 5", puts)
	}

	second, err := p.Process(ctx, srv.imageURL())
	if err != nil {
		t.Fatal(err)
	}
	if !second.Reused || srv.requests.Load() != 1 || store.puts.Load() != puts {
		t.Fatalf("second: reused %t, %d requests, %d writes", second.Reused, srv.requests.Load(), store.puts.Load())
	}
	sameKeys(t, first, second)

	// The same bytes under another URL or uploaded: fetched, not resized.
	other, err := p.Process(ctx, srv.URL+"/img?copy=1")
	if err != nil {
		t.Fatal(err)
	}
	uploaded, err := p.Upload(ctx, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if !other.Reused || !uploaded.Reused || store.puts.Load() != puts || srv.requests.Load() != 2 {
		t.Fatalf("reused %t/%t, %d writes, %d requests", other.Reused, uploaded.Reused, store.puts.Load(), srv.requests.Load())
	}
	sameKeys(t, first, other)
	sameKeys(t, first, uploaded)
}

func sameKeys(t testing.TB, a, b *imagecdn.Result) {
	t.Helper()
	if a.Digest != b.Digest || len(a.Variants) != len(b.Variants) {
		t.Fatalf("digests %s, %s", a.Digest, b.Digest)
	}
	for i := range a.Variants {
		if a.Variants[i] != b.Variants[i] {
			t.Fatalf("variant %d: %+v, %+v", i, a.Variants[i], b.Variants[i])
		}
	}
}

func TestProcessRevalidatesAfterThePeriod(t *testing.T) {
	srv := newImageServer(t, encodeJPEG(t, photo(320, 240, 10)))
	clk := newClock()
	p, store := newProcessor(t, imagecdn.Options{Fetch: imagecdn.FetchOptions{RevalidateAfter: time.Hour, Now: clk.Now}})
	ctx := context.Background()
	first, err := p.Process(ctx, srv.imageURL())
	if err != nil {
		t.Fatal(err)
	}
	puts := store.puts.Load()

	clk.Advance(2 * time.Hour)
	again, err := p.Process(ctx, srv.imageURL())
	if err != nil {
		t.Fatal(err)
	}
	if srv.requests.Load() != 2 || srv.conditional.Load() != 1 || !again.Reused || store.puts.Load() != puts {
		t.Fatalf("%d requests (%d conditional), reused %t, %d writes", srv.requests.Load(), srv.conditional.Load(), again.Reused, store.puts.Load())
	}
	sameKeys(t, first, again)

	// A changed image gets new keys.
	srv.set(encodeJPEG(t, photo(320, 240, 11)), `"v2"`)
	clk.Advance(2 * time.Hour)
	changed, err := p.Process(ctx, srv.imageURL())
	if err != nil {
		t.Fatal(err)
	}
	if changed.Reused || changed.Digest == first.Digest || changed.Variants[0].Key == first.Variants[0].Key {
		t.Fatalf("changed image: %+v", changed)
	}
}

func TestProcessRemakesLostVariants(t *testing.T) {
	srv := newImageServer(t, encodeJPEG(t, photo(320, 240, 12)))
	dir := t.TempDir()
	ds, err := imagecdn.NewDirStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := newProcessor(t, imagecdn.Options{Store: ds})
	ctx := context.Background()
	first, err := p.Process(ctx, srv.imageURL())
	if err != nil {
		t.Fatal(err)
	}
	lost := first.Variants[2].Key
	if err := os.Remove(filepath.Join(dir, lost[:2], lost)); err != nil {
		t.Fatal(err)
	}
	again, err := p.Process(ctx, srv.imageURL())
	if err != nil {
		t.Fatal(err)
	}
	if again.Reused || srv.requests.Load() != 2 {
		t.Fatalf("reused %t, %d requests", again.Reused, srv.requests.Load())
	}
	if ok, _ := ds.Has(ctx, lost); !ok {
		t.Fatal("lost variant not remade")
	}
	sameKeys(t, first, again)
}

func TestProcessErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/missing":
			http.NotFound(w, r)
		case "/page":
			fmt.Fprint(w, "<html></html>")
		case "/bomb":
			w.Write(pngHeaderOnly(100000, 100000))
		case "/broken":
			b := encodeJPEG(t, photo(200, 200, 1))
			w.Write(b[:len(b)/3])
		}
	}))
	defer srv.Close()
	p, store := newProcessor(t, imagecdn.Options{Limits: imagecdn.Limits{MaxBytes: 64 << 10}})
	ctx := context.Background()
	for _, tt := range []struct{ url, code, message string }{
		{"not a url", pushgate.EINVALID, "absolute http or https URL"},
		{srv.URL + "/missing", pushgate.EUNPROCESSABLE, "404"},
		{srv.URL + "/page", pushgate.EUNPROCESSABLE, "not an image"},
		{srv.URL + "/bomb", pushgate.ETOOLARGE, "100000x100000"},
		{srv.URL + "/broken", pushgate.EUNPROCESSABLE, "truncated"},
	} {
		_, err := p.Process(ctx, tt.url)
		if e := wantCode(t, err, tt.code); !strings.Contains(e.Message, tt.message) {
			t.Errorf("%s: message %q", tt.url, e.Message)
		}
	}
	_, err := p.Upload(ctx, bytes.NewReader(encodeJPEG(t, photo(1000, 1000, 2))))
	wantCode(t, err, pushgate.ETOOLARGE)
	_, err = p.Upload(ctx, strings.NewReader("hello"))
	wantCode(t, err, pushgate.EUNPROCESSABLE)
	if n := store.puts.Load(); n != 0 {
		t.Fatalf("%d writes for failed images", n)
	}
}

func TestProcessBoundsConcurrency(t *testing.T) {
	const limit, sources = 2, 6
	p, _ := newProcessor(t, imagecdn.Options{Concurrency: limit})
	var (
		mu        sync.Mutex
		cur, peak int
		gate      = make(chan struct{})
	)
	imagecdn.SetWorking(p, func(d int) {
		mu.Lock()
		cur += d
		peak = max(peak, cur)
		mu.Unlock()
		if d > 0 {
			<-gate // hold the slot so any extra worker would pile up
		}
	})
	var wg sync.WaitGroup
	errs := make(chan error, sources)
	for i := range sources {
		wg.Go(func() {
			_, err := p.Upload(context.Background(), bytes.NewReader(encodePNG(t, photo(64, 64, uint64(100+i)))))
			errs <- err
		})
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		mu.Lock()
		n := cur
		mu.Unlock()
		if n == limit {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d working", n)
		}
	}
	time.Sleep(50 * time.Millisecond) // room for a broken limit to show
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if peak != limit {
		t.Fatalf("%d sources resized at once, limit %d", peak, limit)
	}
}

func TestProcessSharesConcurrentFetches(t *testing.T) {
	srv := newImageServer(t, encodeJPEG(t, photo(320, 240, 13)))
	p, _ := newProcessor(t, imagecdn.Options{})
	var (
		wg      sync.WaitGroup
		digests sync.Map
		failed  atomic.Int64
	)
	for range 5 {
		wg.Go(func() {
			res, err := p.Process(context.Background(), srv.imageURL())
			if err != nil {
				failed.Add(1)
				return
			}
			digests.Store(res.Digest, true)
		})
	}
	wg.Wait()
	n := 0
	digests.Range(func(any, any) bool { n++; return true })
	if failed.Load() != 0 || n != 1 || srv.requests.Load() != 1 {
		t.Fatalf("%d failed, %d digests, %d requests", failed.Load(), n, srv.requests.Load())
	}
}

func TestKeysFollowTheVariantSpec(t *testing.T) {
	dir, err := imagecdn.NewDirStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	src := encodeJPEG(t, photo(300, 300, 14))
	upload := func(vs []imagecdn.Variant) *imagecdn.Result {
		p, _ := newProcessor(t, imagecdn.Options{Store: dir, Variants: vs})
		res, err := p.Upload(context.Background(), bytes.NewReader(src))
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	a := upload(nil)
	b := upload(imagecdn.DefaultVariants())
	if !b.Reused {
		t.Fatal("same spec not reused")
	}
	sameKeys(t, a, b)
	bigger := imagecdn.DefaultVariants()
	bigger[0].Width, bigger[0].Height = 256, 256
	c := upload(bigger)
	ai, _ := a.Image("icon")
	ci, _ := c.Image("icon")
	if c.Reused || ai.Key == ci.Key || ci.Width != 256 {
		t.Fatalf("icon resized to 256: reused %t, keys %s, %s", c.Reused, ai.Key, ci.Key)
	}
}

func TestNewProcessorChecksOptions(t *testing.T) {
	dir, _ := imagecdn.NewDirStore(t.TempDir())
	g := guard(t)
	good := imagecdn.Options{Store: dir, PublicURL: "https://x.example", Fetch: imagecdn.FetchOptions{Guard: g}}
	if _, err := imagecdn.NewProcessor(good); err != nil {
		t.Fatal(err)
	}
	variant := func(f func(*imagecdn.Variant)) []imagecdn.Variant {
		vs := imagecdn.DefaultVariants()
		f(&vs[0])
		return vs
	}
	for name, change := range map[string]func(*imagecdn.Options){
		"no store":          func(o *imagecdn.Options) { o.Store = nil },
		"relative base":     func(o *imagecdn.Options) { o.PublicURL = "/cdn" },
		"no guard":          func(o *imagecdn.Options) { o.Fetch.Guard = nil },
		"quality":           func(o *imagecdn.Options) { o.JPEGQuality = 101 },
		"no variants":       func(o *imagecdn.Options) { o.Variants = []imagecdn.Variant{} },
		"name with a slash": func(o *imagecdn.Options) { o.Variants = variant(func(v *imagecdn.Variant) { v.Name = "../x" }) },
		"duplicate name":    func(o *imagecdn.Options) { o.Variants = variant(func(v *imagecdn.Variant) { v.Name = "ios" }) },
		"zero size":         func(o *imagecdn.Options) { o.Variants = variant(func(v *imagecdn.Variant) { v.Width = 0 }) },
		"huge size":         func(o *imagecdn.Options) { o.Variants = variant(func(v *imagecdn.Variant) { v.Height = 10000 }) },
		"mode":              func(o *imagecdn.Options) { o.Variants = variant(func(v *imagecdn.Variant) { v.Mode = "stretch" }) },
		"format":            func(o *imagecdn.Options) { o.Variants = variant(func(v *imagecdn.Variant) { v.Format = "gif" }) },
	} {
		o := good
		change(&o)
		if _, err := imagecdn.NewProcessor(o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// The whole path a notification image takes: fetched from the sender,
// served by us at the URL the result names.
func TestProcessedImagesAreServed(t *testing.T) {
	src := newImageServer(t, encodeJPEG(t, photo(1200, 800, 15)))
	mux := http.NewServeMux()
	cdn := httptest.NewServer(mux)
	defer cdn.Close()
	p, _ := newProcessor(t, imagecdn.Options{PublicURL: cdn.URL + "/"})
	mux.Handle("GET /cdn/{key}", p.Handler())

	res, err := p.Process(context.Background(), src.imageURL())
	if err != nil {
		t.Fatal(err)
	}
	for _, im := range res.Variants {
		r, err := http.Get(im.URL)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != 200 || r.Header.Get("Content-Type") != im.ContentType {
			t.Fatalf("%s: %d %s", im.URL, r.StatusCode, r.Header.Get("Content-Type"))
		}
		cfg, _, err := image.DecodeConfig(bytes.NewReader(b))
		if err != nil || cfg.Width != im.Width || cfg.Height != im.Height {
			t.Fatalf("%s: %+v, %v", im.Variant, cfg, err)
		}
	}
}

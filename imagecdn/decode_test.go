package imagecdn_test

import (
	"bytes"
	"image/color"
	"runtime"
	"strings"
	"testing"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/imagecdn"
)

func TestDecodeFormats(t *testing.T) {
	tests := []struct {
		name       string
		data       []byte
		format     string
		w, h       int
		firstPixel color.NRGBA
	}{
		{"jpeg", encodeJPEG(t, photo(64, 48, 1)), imagecdn.FormatNameJPEG, 64, 48, color.NRGBA{255, 0, 0, 255}},
		{"png with alpha", transparentPNG(t, 40, 30), imagecdn.FormatNamePNG, 40, 30, color.NRGBA{0, 0, 255, 255}},
		{"gif, first frame", twoFrameGIF(t, 20, 10), imagecdn.FormatNameGIF, 20, 10, color.NRGBA{0, 255, 0, 255}},
		{"webp lossless", solidWebP(33, 17, color.NRGBA{10, 200, 30, 255}), imagecdn.FormatNameWebP, 33, 17, color.NRGBA{10, 200, 30, 255}},
		{"webp in extended container", webpFile(vp8x(0, 5, 4), riffChunk{"VP8L", vp8lSolid(5, 4, color.NRGBA{1, 2, 3, 255})}), imagecdn.FormatNameWebP, 5, 4, color.NRGBA{1, 2, 3, 255}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := imagecdn.Decode(tt.data, imagecdn.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if d.Format != tt.format {
				t.Errorf("format %s, want %s", d.Format, tt.format)
			}
			if b := d.Image.Bounds(); b.Dx() != tt.w || b.Dy() != tt.h {
				t.Errorf("size %dx%d, want %dx%d", b.Dx(), b.Dy(), tt.w, tt.h)
			}
			got := color.NRGBAModel.Convert(d.Image.At(d.Image.Bounds().Min.X, d.Image.Bounds().Min.Y)).(color.NRGBA)
			if !near(got, tt.firstPixel, 8) {
				t.Errorf("first pixel %v, want %v", got, tt.firstPixel)
			}
		})
	}
}

// corrupted overwrites the middle of b, where the compressed pixels are.
func corrupted(b []byte) []byte {
	b = bytes.Clone(b)
	copy(b[len(b)/2:], bytes.Repeat([]byte{0x42}, 64))
	return b
}

func near(a, b color.NRGBA, tol int) bool {
	d := func(x, y uint8) bool { return int(x)-int(y) <= tol && int(y)-int(x) <= tol }
	return d(a.R, b.R) && d(a.G, b.G) && d(a.B, b.B) && d(a.A, b.A)
}

func TestDecodeRefuses(t *testing.T) {
	jpg := encodeJPEG(t, photo(64, 48, 1))
	pngData := encodePNG(t, photo(64, 48, 1))
	tests := []struct {
		name    string
		data    []byte
		limits  imagecdn.Limits
		code    string
		message string
	}{
		{"empty", nil, imagecdn.Limits{}, pushgate.EUNPROCESSABLE, "not an image"},
		{"html", []byte("<!doctype html><html><body>hello</body></html>"), imagecdn.Limits{}, pushgate.EUNPROCESSABLE, "not an image"},
		{"bmp", append([]byte("BM\x36\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00"), make([]byte, 40)...), imagecdn.Limits{}, pushgate.EUNPROCESSABLE, "unsupported image format bmp"},
		{"svg", []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>`), imagecdn.Limits{}, pushgate.EUNPROCESSABLE, "unsupported image format svg"},
		{"avif", []byte("\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1"), imagecdn.Limits{}, pushgate.EUNPROCESSABLE, "unsupported image format avif"},
		{"truncated jpeg", jpg[:len(jpg)/2], imagecdn.Limits{}, pushgate.EUNPROCESSABLE, "jpeg image is truncated"},
		{"truncated png", pngData[:len(pngData)-30], imagecdn.Limits{}, pushgate.EUNPROCESSABLE, "png image is"},
		{"jpeg header only", jpg[:20], imagecdn.Limits{}, pushgate.EUNPROCESSABLE, "jpeg image is"},
		{"corrupt png", corrupted(pngData), imagecdn.Limits{}, pushgate.EUNPROCESSABLE, "png image is truncated or corrupt"},
		{"too many bytes", jpg, imagecdn.Limits{MaxBytes: 100}, pushgate.ETOOLARGE, "larger than 100 bytes"},
		{"absurd sides", pngHeaderOnly(100000, 100000), imagecdn.Limits{}, pushgate.ETOOLARGE, "is 100000x100000"},
		{"too many pixels", pngHeaderOnly(8000, 8000), imagecdn.Limits{}, pushgate.ETOOLARGE, "more than 40.0 megapixels"},
		{"too many pixels, custom limit", jpg, imagecdn.Limits{MaxPixels: 1000}, pushgate.ETOOLARGE, "megapixels"},
		{"webp frame larger than its canvas says", webpFile(vp8x(0, 1, 1), riffChunk{"VP8L", vp8lSolid(16000, 16000, color.NRGBA{A: 255})}), imagecdn.Limits{}, pushgate.ETOOLARGE, "16000x16000"},
		{"webp frame other than its canvas", webpFile(vp8x(0, 1, 1), riffChunk{"VP8L", vp8lSolid(2, 2, color.NRGBA{A: 255})}), imagecdn.Limits{}, pushgate.EUNPROCESSABLE, "webp image is corrupt"},
		{"animated webp", webpFile(vp8x(0x02, 1, 1), riffChunk{"ANIM", make([]byte, 6)}), imagecdn.Limits{}, pushgate.EUNPROCESSABLE, "animated"},
		{"webp without image data", webpFile(vp8x(0, 1, 1)), imagecdn.Limits{}, pushgate.EUNPROCESSABLE, "webp image is"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := imagecdn.Decode(tt.data, tt.limits)
			if err == nil {
				t.Fatalf("decoded %v", d.Image.Bounds())
			}
			e := wantCode(t, err, tt.code)
			if !strings.Contains(e.Message, tt.message) {
				t.Errorf("message %q, want it to contain %q", e.Message, tt.message)
			}
		})
	}
}

// A header claiming a huge image must be refused before anything of that
// size is allocated: 100000x100000 RGBA would be 40 GB.
func TestDecodeBombAllocatesLittle(t *testing.T) {
	for name, data := range map[string][]byte{
		"png":  pngHeaderOnly(16000, 16000),
		"webp": webpFile(vp8x(0, 1, 1), riffChunk{"VP8L", vp8lSolid(16000, 16000, color.NRGBA{A: 255})}),
	} {
		t.Run(name, func(t *testing.T) {
			alloc := allocated(func() {
				if _, err := imagecdn.Decode(data, imagecdn.Limits{}); err == nil {
					t.Fatal("decoded")
				}
			})
			if alloc > 1<<20 {
				t.Fatalf("refusing a %d-byte bomb allocated %d bytes", len(data), alloc)
			}
		})
	}
}

// x/image/vp8l allocates every prefix-code group an entropy image names
// before reading them, about 2.7 KB each, up to 65536 groups. That is a
// fixed cost, not one a file can grow; this pins it so a change in the
// decoder shows up here.
func TestDecodeWebPGroupCountIsBounded(t *testing.T) {
	data := webpFile(riffChunk{"VP8L", vp8lManyGroups()})
	alloc := allocated(func() {
		_, err := imagecdn.Decode(data, imagecdn.Limits{})
		wantCode(t, err, pushgate.EUNPROCESSABLE)
	})
	t.Logf("%d-byte WebP naming 65536 prefix-code groups: %d MB allocated", len(data), alloc>>20)
	if alloc > 256<<20 {
		t.Fatalf("allocated %d MB", alloc>>20)
	}
}

func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestDecodeReadsJPEGOrientation(t *testing.T) {
	jpg := encodeJPEG(t, photo(40, 20, 1))
	for _, o := range []uint16{1, 3, 6, 8} {
		d, err := imagecdn.Decode(withExif(jpg, o), imagecdn.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if d.Orientation != int(o) {
			t.Errorf("orientation %d, want %d", d.Orientation, o)
		}
	}
	d, err := imagecdn.Decode(jpg, imagecdn.Limits{})
	if err != nil || d.Orientation != 1 {
		t.Fatalf("no EXIF: orientation %v, %v", d, err)
	}
}

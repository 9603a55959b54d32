package imagecdn_test

import (
	"errors"
	"image/color"
	"runtime"
	"testing"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/imagecdn"
)

// FuzzDecode feeds arbitrary bytes to the decode path. It must never panic,
// never return an image over the limits, classify every failure, and never
// allocate more than the limits allow for (plus the fixed cost of
// x/image/vp8l's prefix-code groups, see TestDecodeWebPGroupCountIsBounded).
func FuzzDecode(f *testing.F) {
	jpg := encodeJPEG(f, photo(48, 32, 1))
	pngData := transparentPNG(f, 24, 16)
	gifData := twoFrameGIF(f, 16, 8)
	webp := solidWebP(9, 7, color.NRGBA{1, 2, 3, 4})
	for _, seed := range [][]byte{
		jpg, jpg[:len(jpg)/2], withExif(jpg, 6), withSegment(jpg, 0xfe, []byte("comment")),
		pngData, pngData[:40], pngHeaderOnly(100000, 100000), pngHeaderOnly(2000, 2000),
		gifData, gifData[:30],
		webp, webp[:20],
		webpFile(vp8x(0x10, 9, 7), riffChunk{"VP8L", vp8lSolid(9, 7, color.NRGBA{A: 255})}),
		webpFile(vp8x(0, 1, 1), riffChunk{"VP8L", vp8lSolid(16000, 16000, color.NRGBA{A: 255})}),
		webpFile(riffChunk{"VP8 ", []byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x10, 0x00, 0x10, 0x00, 0, 0, 0}}),
		webpFile(riffChunk{"VP8L", vp8lManyGroups()}),
		[]byte("RIFF\xff\xff\xff\xffWEBPVP8L"),
		[]byte("GIF89a"), []byte("\x89PNG\r\n\x1a\n"), {0xff, 0xd8, 0xff},
		nil,
	} {
		f.Add(seed)
	}
	limits := imagecdn.Limits{MaxBytes: 1 << 20, MaxPixels: 1 << 20, MaxSide: 4096}
	f.Fuzz(func(t *testing.T, data []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		d, err := imagecdn.Decode(data, limits)
		runtime.ReadMemStats(&after)

		// 1 MP at the most bytes a pixel takes decoded (16-bit RGBA) and
		// a progressive JPEG's coefficients, with room to spare.
		bound := uint64(64 << 20)
		if len(data) >= 12 && string(data[8:12]) == "WEBP" {
			bound += 256 << 20
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > bound {
			t.Fatalf("decoding %d bytes allocated %d MB", len(data), alloc>>20)
		}
		if err != nil {
			var e *pushgate.Error
			if !errors.As(err, &e) || e.Code == pushgate.EINTERNAL || e.Message == "" {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		b := d.Image.Bounds()
		if b.Dx() <= 0 || b.Dy() <= 0 || b.Dx() > limits.MaxSide || b.Dy() > limits.MaxSide || int64(b.Dx())*int64(b.Dy()) > limits.MaxPixels {
			t.Fatalf("decoded %v past the limits", b)
		}
		if d.Orientation < 1 || d.Orientation > 8 || d.Format == "" {
			t.Fatalf("orientation %d, format %q", d.Orientation, d.Format)
		}
	})
}

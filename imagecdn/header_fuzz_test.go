package imagecdn_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image/color"
	"runtime"
	"testing"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/imagecdn"
	"github.com/pushgate/pushgate/internal/fuzzcheck"
)

// FuzzImageHeader feeds arbitrary bytes to what runs before an image is
// decoded: naming the format from the leading bytes, reading dimensions
// from the header, and reading the EXIF orientation. Nothing the size the
// header claims may be allocated; a fetch that names the format from fewer
// leading bytes never names another one; what passes is within the
// limits; every refusal is classified and worded for a client.
func FuzzImageHeader(f *testing.F) {
	jpg := encodeJPEG(f, photo(48, 32, 1))
	pngData := transparentPNG(f, 24, 16)
	for _, seed := range [][]byte{
		jpg, jpg[:200], withExif(jpg, 6), withExif(jpg, 9), withSegment(jpg, 0xfe, []byte("comment")),
		withSegment(withExif(jpg, 3), 0xe0, []byte("JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")),
		pngData, pngHeaderOnly(100000, 100000), pngHeaderOnly(4096, 4096), pngHeaderOnly(0, 5),
		twoFrameGIF(f, 16, 8), []byte("GIF89a\xff\xff\xff\xff\xf7\x00\x00"),
		solidWebP(9, 7, color.NRGBA{1, 2, 3, 4}),
		webpFile(vp8x(0x10, 9, 7), riffChunk{"VP8L", vp8lSolid(9, 7, color.NRGBA{A: 255})}),
		webpFile(vp8x(0, 1, 1), riffChunk{"VP8L", vp8lSolid(16000, 16000, color.NRGBA{A: 255})}),
		webpFile(vp8x(0x02, 9, 7), riffChunk{"ANIM", make([]byte, 6)}),
		webpFile(riffChunk{"VP8 ", []byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0xff, 0x3f, 0xff, 0x3f, 0, 0, 0}}),
		[]byte("RIFF\xff\xff\xff\xffWEBPVP8X"),
		[]byte("BM\x00\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00"), []byte("II*\x00"), []byte("\x00\x00\x00\x1cftypavif"),
		[]byte("\x00\x00\x00\x18ftypheic"), []byte("\xef\xbb\xbf<?xml version=\"1.0\"?><svg/>"), []byte("<html>"),
		nil,
	} {
		f.Add(seed)
	}
	limits := imagecdn.Limits{MaxBytes: 1 << 20, MaxPixels: 1 << 20, MaxSide: 4096}
	f.Fuzz(func(t *testing.T, data []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		format, w, h, err := imagecdn.DecodeHeader(data, limits)
		runtime.ReadMemStats(&after)
		// Headers are small: the largest is GIF's 768-byte palette.
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
			t.Fatalf("reading the header of %d bytes allocated %d KB", len(data), alloc>>10)
		}

		head := data[:min(len(data), imagecdn.SniffLen)]
		sniffed, sniffErr := imagecdn.SniffFormat(head)
		for n := range len(head) {
			// A fetch names the format once SniffLen bytes (or all there
			// is) have come: fewer may name nothing yet, never another.
			if f, err := imagecdn.SniffFormat(head[:n]); err == nil && f != sniffed {
				t.Fatalf("the first %d bytes name %s, all %d name %q", n, f, len(head), sniffed)
			}
		}
		if sniffErr != nil {
			checkImageError(t, sniffErr, pushgate.EUNPROCESSABLE)
			if err == nil {
				t.Fatalf("header of an unsupported format accepted as %s", format)
			}
		}

		if o := imagecdn.JPEGOrientation(data); o < 1 || o > 8 {
			t.Fatalf("orientation %d", o)
		} else if o != 1 && (sniffed != imagecdn.FormatNameJPEG || !bytes.Contains(data, []byte("Exif\x00\x00"))) {
			t.Fatalf("orientation %d of something without EXIF", o)
		}

		if err != nil {
			checkImageError(t, err, pushgate.EUNPROCESSABLE, pushgate.ETOOLARGE)
			return
		}
		if format != sniffed {
			t.Fatalf("header read as %s, sniffed as %s", format, sniffed)
		}
		if w <= 0 || h <= 0 || w > limits.MaxSide || h > limits.MaxSide || int64(w)*int64(h) > limits.MaxPixels {
			t.Fatalf("%s header of %dx%d passed", format, w, h)
		}
	})
}

// FuzzEXIFOrientation builds JPEGs whose EXIF block holds an orientation
// where the fuzzer says (either byte order, after other entries, with
// padding before IFD0, behind other segments) and checks that Decode reads
// exactly it: a wrong reading would turn every variant of a phone photo.
func FuzzEXIFOrientation(f *testing.F) {
	jpg := encodeJPEG(f, photo(16, 8, 2))
	for o := range uint16(10) {
		f.Add(o%2 == 0, o, uint8(o), []byte{}, o%3 == 0)
	}
	f.Add(false, uint16(0x0600), uint8(200), []byte("pad"), true)
	f.Fuzz(func(t *testing.T, bigEndian bool, orientation uint16, entries uint8, pad []byte, jfif bool) {
		var order binary.ByteOrder = binary.LittleEndian
		mark := "II"
		if bigEndian {
			order, mark = binary.BigEndian, "MM"
		}
		entries %= 32
		var tiff bytes.Buffer
		tiff.WriteString(mark)
		_ = binary.Write(&tiff, order, uint16(42))
		_ = binary.Write(&tiff, order, uint32(8+len(pad)))
		tiff.Write(pad)
		_ = binary.Write(&tiff, order, uint16(entries)+1)
		for i := range uint16(entries) {
			// Other tags of IFD0 (ImageWidth 0x0100 onwards), never 0x0112.
			_ = binary.Write(&tiff, order, []uint16{0x0100 + i%0x12, 3})
			_ = binary.Write(&tiff, order, []uint32{1, 0})
		}
		_ = binary.Write(&tiff, order, []uint16{0x0112, 3})
		_ = binary.Write(&tiff, order, uint32(1))
		_ = binary.Write(&tiff, order, []uint16{orientation, 0})
		_ = binary.Write(&tiff, order, uint32(0))
		if tiff.Len()+6+2 > 0xffff {
			return // does not fit one segment
		}
		data := withSegment(jpg, 0xe1, append([]byte("Exif\x00\x00"), tiff.Bytes()...))
		if jfif {
			data = withSegment(data, 0xe0, []byte("JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"))
		}
		want := int(orientation)
		if want < 1 || want > 8 {
			want = 1
		}
		d, err := imagecdn.Decode(data, imagecdn.Limits{})
		if err != nil {
			t.Fatalf("a JPEG with an EXIF block does not decode: %v", err)
		}
		if d.Orientation != want {
			t.Fatalf("orientation %d read as %d", orientation, d.Orientation)
		}
	})
}

// checkImageError fails t unless err is a classified *pushgate.Error with
// one of codes and a message for a client.
func checkImageError(t *testing.T, err error, codes ...string) {
	t.Helper()
	var e *pushgate.Error
	if !errors.As(err, &e) || e.Message == "" {
		t.Fatalf("unclassified error %v", err)
	}
	for _, c := range codes {
		if e.Code == c {
			if s := fuzzcheck.GoSpelling(e.Message); s != "" {
				t.Fatalf("message %q shows Go's %q", e.Message, s)
			}
			return
		}
	}
	t.Fatalf("error %v has code %s, want one of %q", err, e.Code, codes)
}

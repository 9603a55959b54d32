package imagecdn_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/imagecdn"
)

// photo returns a w x h image with gradients and noise, so JPEG encoding
// and resampling cost what they cost for real photos. The top-left quarter
// is pure red, the rest has no red at all, so tests can find the corner
// after rotations.
func photo(w, h int, seed uint64) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewPCG(seed, 1))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := img.PixOffset(x, y)
			if x < w/2 && y < h/2 {
				img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = 255, 0, 0, 255
				continue
			}
			n := uint8(rng.IntN(24))
			img.Pix[i] = 0
			img.Pix[i+1] = uint8(x*200/w) + n
			img.Pix[i+2] = uint8(y*200/h) + n
			img.Pix[i+3] = 255
		}
	}
	return img
}

func encodeJPEG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// transparentPNG is a w x h PNG whose left half is opaque blue and right
// half fully transparent.
func transparentPNG(t testing.TB, w, h int) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w/2; x++ {
			img.SetNRGBA(x, y, color.NRGBA{0, 0, 255, 255})
		}
	}
	return encodePNG(t, img)
}

// twoFrameGIF is an animated GIF whose first frame is green and second red.
func twoFrameGIF(t testing.TB, w, h int) []byte {
	t.Helper()
	pal := color.Palette{color.RGBA{0, 255, 0, 255}, color.RGBA{255, 0, 0, 255}}
	first := image.NewPaletted(image.Rect(0, 0, w, h), pal)
	second := image.NewPaletted(image.Rect(0, 0, w, h), pal)
	for i := range second.Pix {
		second.Pix[i] = 1
	}
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, &gif.GIF{Image: []*image.Paletted{first, second}, Delay: []int{10, 10}}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// withSegment inserts a JPEG marker segment right after SOI.
func withSegment(jpg []byte, marker byte, payload []byte) []byte {
	seg := []byte{0xff, marker, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(payload)+2))
	out := append([]byte{}, jpg[:2]...)
	out = append(out, seg...)
	out = append(out, payload...)
	return append(out, jpg[2:]...)
}

// withExif adds an APP1 Exif segment holding an orientation tag and a
// camera make, the kind of metadata that must not reach the variants.
func withExif(jpg []byte, orientation uint16) []byte {
	var t bytes.Buffer
	t.WriteString("Exif\x00\x00")
	le := binary.LittleEndian
	t.WriteString("II")
	_ = binary.Write(&t, le, uint16(42))
	_ = binary.Write(&t, le, uint32(8)) // IFD0 right after the header
	_ = binary.Write(&t, le, uint16(2)) // two entries
	// 0x010f Make, ASCII, 8 bytes at offset 38 (after this IFD).
	_ = binary.Write(&t, le, []uint16{0x010f, 2})
	_ = binary.Write(&t, le, []uint32{8, 38})
	// 0x0112 Orientation, SHORT, 1 value, stored in place.
	_ = binary.Write(&t, le, []uint16{0x0112, 3})
	_ = binary.Write(&t, le, uint32(1))
	_ = binary.Write(&t, le, []uint16{orientation, 0})
	_ = binary.Write(&t, le, uint32(0)) // no next IFD
	t.WriteString("SpyCam\x00\x00")
	return withSegment(jpg, 0xe1, t.Bytes())
}

// pngHeaderOnly is a PNG whose IHDR claims w x h pixels, followed by a tiny
// IDAT and IEND: a few dozen bytes that would decode to gigabytes.
func pngHeaderOnly(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		_ = binary.Write(&b, binary.BigEndian, uint32(len(data)))
		crc := crc32.NewIEEE()
		crc.Write([]byte(typ))
		crc.Write(data)
		b.WriteString(typ)
		b.Write(data)
		_ = binary.Write(&b, binary.BigEndian, crc.Sum32())
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 6 // 8-bit RGBA
	chunk("IHDR", ihdr)
	chunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})
	chunk("IEND", nil)
	return b.Bytes()
}

// bitWriter writes the least significant bit first, as VP8L reads.
type bitWriter struct {
	buf []byte
	acc uint64
	n   uint
}

func (w *bitWriter) put(v uint64, n uint) {
	w.acc |= v << w.n
	w.n += n
	for w.n >= 8 {
		w.buf = append(w.buf, byte(w.acc))
		w.acc >>= 8
		w.n -= 8
	}
}

func (w *bitWriter) bytes() []byte {
	if w.n > 0 {
		return append(w.buf, byte(w.acc))
	}
	return w.buf
}

// simpleCode writes a VP8L "simple" prefix code with one 8-bit symbol: it
// costs no bits per pixel, so a solid image needs no pixel data at all.
func (w *bitWriter) simpleCode(symbol uint8) {
	w.put(1, 1) // simple code
	w.put(0, 1) // one symbol
	w.put(1, 1) // of 8 bits
	w.put(uint64(symbol), 8)
}

// vp8lHeader writes the signature, 14-bit width-1 and height-1, the alpha
// hint and version 0, and "no transform".
func (w *bitWriter) vp8lHeader(width, height int) {
	w.put(0x2f, 8)
	w.put(uint64(width-1), 14)
	w.put(uint64(height-1), 14)
	w.put(1, 1)
	w.put(0, 3)
	w.put(0, 1)
}

// vp8lSolid is a lossless WebP bitstream of a solid w x h image, written
// from the WebP lossless format description.
func vp8lSolid(width, height int, c color.NRGBA) []byte {
	var w bitWriter
	w.vp8lHeader(width, height)
	w.put(0, 1) // no colour cache
	w.put(0, 1) // no meta prefix codes
	w.simpleCode(c.G)
	w.simpleCode(c.R)
	w.simpleCode(c.B)
	w.simpleCode(c.A)
	w.simpleCode(0) // distance
	return w.bytes()
}

// vp8lManyGroups is a 1x1 lossless bitstream whose entropy image names
// prefix-code group 65535, so a decoder allocates 65536 groups before
// running out of data.
func vp8lManyGroups() []byte {
	var w bitWriter
	w.vp8lHeader(1, 1)
	w.put(0, 1) // no colour cache
	w.put(1, 1) // meta prefix codes
	w.put(0, 3) // tiles of 4x4: the entropy image is 1x1
	w.put(0, 1) // entropy image: no colour cache
	w.simpleCode(0xff)
	w.simpleCode(0xff) // red<<8 | green = 65535
	w.simpleCode(0)
	w.simpleCode(0)
	w.simpleCode(0)
	return w.bytes()
}

type riffChunk struct {
	id   string
	data []byte
}

// webpFile wraps chunks in a RIFF WEBP container.
func webpFile(chunks ...riffChunk) []byte {
	var body bytes.Buffer
	body.WriteString("WEBP")
	for _, c := range chunks {
		body.WriteString(c.id)
		_ = binary.Write(&body, binary.LittleEndian, uint32(len(c.data)))
		body.Write(c.data)
		if len(c.data)%2 == 1 {
			body.WriteByte(0)
		}
	}
	var b bytes.Buffer
	b.WriteString("RIFF")
	_ = binary.Write(&b, binary.LittleEndian, uint32(body.Len()))
	b.Write(body.Bytes())
	return b.Bytes()
}

func solidWebP(w, h int, c color.NRGBA) []byte {
	return webpFile(riffChunk{"VP8L", vp8lSolid(w, h, c)})
}

// vp8x is the extended-format header chunk: flags, then 24-bit canvas
// width-1 and height-1.
func vp8x(flags byte, w, h int) riffChunk {
	d := make([]byte, 10)
	d[0] = flags
	d[4], d[5], d[6] = byte(w-1), byte((w-1)>>8), byte((w-1)>>16)
	d[7], d[8], d[9] = byte(h-1), byte((h-1)>>8), byte((h-1)>>16)
	return riffChunk{"VP8X", d}
}

// guard lets tests reach their httptest servers on loopback.
func guard(t testing.TB) *pushgate.SSRFGuard {
	t.Helper()
	g, err := pushgate.NewSSRFGuard("127.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// imageServer serves one image at /img with an ETag, answering
// If-None-Match with 304, and counts requests.
type imageServer struct {
	*httptest.Server
	mu          sync.Mutex
	body        []byte
	etag        string
	requests    atomic.Int64
	conditional atomic.Int64 // requests that carried If-None-Match
}

func newImageServer(t testing.TB, body []byte) *imageServer {
	s := &imageServer{body: body, etag: `"v1"`}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		s.mu.Lock()
		body, etag := s.body, s.etag
		s.mu.Unlock()
		if inm := r.Header.Get("If-None-Match"); inm != "" {
			s.conditional.Add(1)
			if inm == etag {
				w.WriteHeader(http.StatusNotModified)
				return
			}
		}
		w.Header().Set("ETag", etag)
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *imageServer) set(body []byte, etag string) {
	s.mu.Lock()
	s.body, s.etag = body, etag
	s.mu.Unlock()
}

func (s *imageServer) imageURL() string { return s.URL + "/img" }

// countingStore counts writes to the store under it.
type countingStore struct {
	imagecdn.Store
	puts atomic.Int64
}

func (s *countingStore) Put(ctx context.Context, key, contentType string, data []byte) error {
	s.puts.Add(1)
	return s.Store.Put(ctx, key, contentType, data)
}

func newProcessor(t testing.TB, opts imagecdn.Options) (*imagecdn.Processor, *countingStore) {
	t.Helper()
	dir, err := imagecdn.NewDirStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	store := &countingStore{Store: dir}
	if opts.Store == nil {
		opts.Store = store
	}
	if opts.PublicURL == "" {
		opts.PublicURL = "https://push.example.com"
	}
	if opts.Fetch.Guard == nil {
		opts.Fetch.Guard = guard(t)
	}
	p, err := imagecdn.NewProcessor(opts)
	if err != nil {
		t.Fatal(err)
	}
	return p, store
}

// wantCode fails unless err is a *pushgate.Error with code.
func wantCode(t testing.TB, err error, code string) *pushgate.Error {
	t.Helper()
	var e *pushgate.Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v (%T), want a *pushgate.Error with code %s", err, err, code)
	}
	if e.Code != code {
		t.Fatalf("got code %s (%v), want %s", e.Code, err, code)
	}
	return e
}

// decodeBytes decodes an output variant with the standard decoders.
func decodeBytes(t testing.TB, b []byte) (image.Image, string) {
	t.Helper()
	img, format, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("variant does not decode: %v", err)
	}
	return img, format
}

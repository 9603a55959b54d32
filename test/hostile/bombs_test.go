package hostile

import (
	"bytes"
	"compress/lzw"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/gif"
	_ "image/jpeg"
	"image/png"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A bomb is a small file that claims, or expands to, far more pixels than
// an image may have.
type bomb struct {
	name string
	data []byte
	// harmless bombs (many frames of which one is decoded) may be taken;
	// the others must be refused.
	harmless bool
}

// bombs are made once: some take a second of CPU.
var bombs = sync.OnceValue(func() []bomb {
	return []bomb{
		{name: "PNG declaring 1,000,000 x 1,000,000", data: pngBomb(1_000_000, 1_000_000, false)},
		{name: "PNG of 40,000 x 40,000 zeros", data: pngBomb(40_000, 40_000, true)},
		{name: "PNG of 16,000 x 16,000 zeros", data: pngBomb(16_000, 16_000, true)},
		{name: "PNG of 1,000 x 1,000 with 256 MiB of compressed zeros", data: pngOverflow()},
		{name: "JPEG declaring 65,500 x 65,500", data: jpegBomb(65_500, 65_500)},
		{name: "GIF with a 65,535 x 65,535 screen", data: gifBomb(65_535, 65_535, 1, 1, 1, 1)},
		{name: "GIF with a frame larger than its screen", data: gifBomb(16, 16, 10_000, 10_000, 1, 1)},
		// Harmless only because the first frame alone is decoded: all of them
		// would be a gigapixel of work. Small frames keep the one decode quick
		// under -race on a busy machine.
		{name: "GIF of 1,000 frames of 1,000 x 1,000", data: gifBomb(1_000, 1_000, 1_000, 1_000, 1_000, 1_000), harmless: true},
		{name: "WebP declaring 16,384 x 16,384", data: webpBomb(16_384, 16_384)},
	}
})

// TestImageBombs uploads each bomb to POST /v1/images and names it as a
// context's image on a local origin. Each is refused with a clear error
// (the context fails with a reason), the heap stays within bounds, and the
// node lives on.
//
// It runs before the parallel tests, so that their requests do not count
// in its heap.
func TestImageBombs(t *testing.T) {
	bombs := bombs()
	forEachBackend(t, func(t *testing.T, backend string) {
		ln, err := net.Listen("tcp", "127.0.0.2:0")
		if err != nil {
			skipCases(t, "bomb: ", "no second loopback address to serve the origin from: %v", err)
		}
		origin := httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			for _, b := range bombs {
				if r.URL.Path == "/"+slug(b.name) {
					rw.Write(b.data)
					return
				}
			}
			http.NotFound(rw, r)
		}))
		origin.Listener.Close()
		origin.Listener = ln
		origin.Start()
		t.Cleanup(origin.Close)
		cfg := nodeConfig(t, backend)
		cfg.SSRFAllow = "127.0.0.2/32"
		n := startNode(t, cfg)

		heap := watchHeap()
		for _, b := range bombs {
			t.Run("upload "+b.name, func(t *testing.T) {
				if cfg, format, err := image.DecodeConfig(bytes.NewReader(b.data)); err == nil {
					// The bomb must say what it claims, or it tests nothing.
					t.Logf("%s: %s of %d x %d", b.name, format, cfg.Width, cfg.Height)
				} else if !strings.HasPrefix(b.name, "WebP") {
					t.Fatalf("%s does not decode as an image header: %v", b.name, err)
				}
				a := n.do(request{method: "POST", path: "/v1/images", key: n.admin, body: b.data, header: http.Header{"Content-Type": {"application/octet-stream"}}})
				t.Logf("answer: %s", a)
				judge(t, backend, "bomb: upload "+b.name, bombAnswer(b, a))
			})
		}
		pub, priv := vapidKeys()
		var bucket struct{ BucketID string }
		n.must(200, n.admin, "POST", "/v1/bucket", fmt.Sprintf(`{"providerCredentials":[{"type":"vapid","payload":{"publicKey":%q,"privateKey":%q}}],"callbackConfig":{"type":"none"}}`, pub, priv), &bucket)
		contexts := make([]string, len(bombs))
		for i, b := range bombs {
			var c struct{ ContextID string }
			n.must(200, n.admin, "POST", "/v1/bucket/"+bucket.BucketID+"/context/data",
				map[string]any{"title": "Sale", "image": origin.URL + "/" + slug(b.name)}, &c)
			contexts[i] = c.ContextID
		}
		states := make([]struct{ Status, Reason string }, len(bombs))
		waitFor(60*time.Second, func() bool {
			for i := range bombs {
				if states[i].Status == "" || states[i].Status == "processing" {
					n.call(n.admin, "GET", "/v1/bucket/"+bucket.BucketID+"/context/"+contexts[i], nil, &states[i])
				}
			}
			for _, s := range states {
				if s.Status == "processing" {
					return false
				}
			}
			return true
		})
		for i, b := range bombs {
			t.Run("fetch "+b.name, func(t *testing.T) {
				var p []string
				t.Logf("context: %+v", states[i])
				switch s := states[i]; {
				case s.Status == "ready" && b.harmless:
				case s.Status != "failed":
					p = append(p, fmt.Sprintf("the context of a bomb is %q, not failed", s.Status))
				case strings.TrimSpace(s.Reason) == "":
					p = append(p, "the context failed without a reason")
				}
				judge(t, backend, "bomb: fetch "+b.name, p)
			})
		}
		growth := heap()
		t.Logf("heap grew by at most %d MiB while the bombs went off", growth>>20)
		if growth > 512<<20 {
			t.Errorf("the heap grew by %d MiB while the bombs went off", growth>>20)
		}
		n.alive()
	})
}

// bombAnswer checks the answer to an upload of b.
func bombAnswer(b bomb, a answer) []string {
	if a.err != nil {
		return []string{"no answer: " + a.err.Error()}
	}
	p := errorShape(a)
	if a.status == 200 && b.harmless {
		return p
	}
	switch a.status {
	case 400, 413, 415, 422:
		if msg, _, code := errorOf(a); strings.TrimSpace(msg) == "" || code == "internal" {
			p = append(p, "refused without a clear message: "+a.String())
		}
	default:
		p = append(p, "want a refusal (400, 413, 415 or 422), got "+a.String())
	}
	return p
}

// watchHeap samples the live heap until the returned function is called,
// which reports the largest growth over the heap at the start.
func watchHeap() func() uint64 {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	base := read()
	var peak atomic.Uint64
	peak.Store(base)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if v := read(); v > peak.Load() {
					peak.Store(v)
				}
			}
		}
	}()
	return func() uint64 {
		close(stop)
		<-done
		if p := peak.Load(); p > base {
			return p - base
		}
		return 0
	}
}

func slug(s string) string {
	return strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' {
			return r
		}
		return '-'
	}, s)
}

// pngBomb is a grayscale PNG of w×h at 1 bit a pixel: with zeros, its
// rows whole (a valid image the size it claims); without, a few bytes of
// pixel data behind the header.
func pngBomb(w, h int, zeros bool) []byte {
	n := 64
	if zeros {
		n = h * (1 + (w+7)/8)
	}
	return pngFile(w, h, 1, zlibZeros(n))
}

// pngOverflow is a 1,000×1,000 grayscale PNG whose compressed pixel data
// inflates to 256 MiB, 268 times what the image needs.
func pngOverflow() []byte { return pngFile(1000, 1000, 8, zlibZeros(256<<20)) }

// zlibZeros is a zlib stream of n zero bytes (n > 0), written by hand: one
// literal, then copies of 258 bytes at distance 1, in fixed Huffman codes.
// A compressor would take seconds (minutes under -race) to find the same.
func zlibZeros(n int) []byte {
	var out []byte
	var acc uint64
	var bits uint
	put := func(v uint64, width uint) { // LSB first
		acc |= v << bits
		bits += width
		for bits >= 8 {
			out = append(out, byte(acc))
			acc >>= 8
			bits -= 8
		}
	}
	code := func(c uint64, width uint) { // Huffman codes go MSB first
		var r uint64
		for i := uint(0); i < width; i++ {
			r = r<<1 | (c>>i)&1
		}
		put(r, width)
	}
	out = append(out, 0x78, 0x01)
	put(1, 1)     // the final block
	put(1, 2)     // of fixed Huffman codes
	code(0x30, 8) // literal 0
	left := n - 1
	for ; left >= 258; left -= 258 {
		code(0xC5, 8) // length 258 (symbol 285)
		code(0, 5)    // distance 1
	}
	for ; left > 0; left-- {
		code(0x30, 8)
	}
	code(0, 7) // end of block
	if bits > 0 {
		put(0, 8-bits)
	}
	adler := uint32(n%65521)<<16 | 1 // of n zeros: a = 1, b = n
	return binary.BigEndian.AppendUint32(out, adler)
}

func pngFile(w, h int, depth byte, idat []byte) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(kind string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		crc := crc32.NewIEEE()
		crc.Write([]byte(kind))
		crc.Write(data)
		b.WriteString(kind)
		b.Write(data)
		binary.Write(&b, binary.BigEndian, crc.Sum32())
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = depth, 0 // grayscale
	chunk("IHDR", ihdr)
	chunk("IDAT", idat)
	chunk("IEND", nil)
	return b.Bytes()
}

// jpegBomb is a baseline JFIF header declaring w×h, and no image data.
func jpegBomb(w, h int) []byte {
	app0 := []byte{0xFF, 0xE0, 0, 16, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0}
	sof := []byte{0xFF, 0xC0, 0, 17, 8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), 3,
		1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1}
	out := append([]byte{0xFF, 0xD8}, app0...)
	out = append(out, sof...)
	return append(out, 0xFF, 0xD9)
}

// gifBomb is a GIF with a sw×sh screen and frames declared fw×fh, of
// which rows rows of colour 0 are stored, compressed once and repeated.
func gifBomb(sw, sh, fw, fh, rows, frames int) []byte {
	var b bytes.Buffer
	le16 := func(v int) { binary.Write(&b, binary.LittleEndian, uint16(v)) }
	b.WriteString("GIF89a")
	le16(sw)
	le16(sh)
	b.Write([]byte{0x80, 0, 0, 0, 0, 0, 255, 255, 255}) // a global table of 2 colours
	var lz bytes.Buffer
	zw := lzw.NewWriter(&lz, lzw.LSB, 2)
	row := make([]byte, fw)
	for y := 0; y < rows; y++ {
		zw.Write(row)
	}
	zw.Close()
	var frame bytes.Buffer
	frame.WriteByte(0x2C)
	binary.Write(&frame, binary.LittleEndian, [4]uint16{0, 0, uint16(fw), uint16(fh)})
	frame.WriteByte(0)
	frame.WriteByte(2) // LZW minimum code size
	for data := lz.Bytes(); len(data) > 0; {
		n := min(len(data), 255)
		frame.WriteByte(byte(n))
		frame.Write(data[:n])
		data = data[n:]
	}
	frame.WriteByte(0)
	for i := 0; i < frames; i++ {
		b.Write(frame.Bytes())
	}
	b.WriteByte(0x3B)
	return b.Bytes()
}

// webpBomb is a lossless WebP header declaring w×h (at most 16384 a side).
func webpBomb(w, h int) []byte {
	bits := uint32(w-1) | uint32(h-1)<<14
	vp8l := []byte{0x2F, byte(bits), byte(bits >> 8), byte(bits >> 16), byte(bits >> 24), 0}
	var b bytes.Buffer
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, uint32(4+8+len(vp8l)))
	b.WriteString("WEBPVP8L")
	binary.Write(&b, binary.LittleEndian, uint32(5))
	b.Write(vp8l)
	return b.Bytes()
}

// The bombs are what they claim: the hand-written stream inflates to its
// zeros, checksum and all, and a PNG made of it decodes.
func TestBombsAreWellFormed(t *testing.T) {
	for _, n := range []int{1, 257, 258, 259, 1000, 258*100 + 7} {
		r, err := zlib.NewReader(bytes.NewReader(zlibZeros(n)))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil || len(got) != n || bytes.Count(got, []byte{0}) != n {
			t.Fatalf("zlibZeros(%d) inflates to %d bytes (%v)", n, len(got), err)
		}
	}
	img, err := png.Decode(bytes.NewReader(pngBomb(100, 30, true)))
	if err != nil || img.Bounds().Dx() != 100 || img.Bounds().Dy() != 30 {
		t.Fatalf("a small PNG of zeros: %v, %v", img, err)
	}
	if _, err := gif.Decode(bytes.NewReader(gifBomb(40, 20, 40, 20, 20, 3))); err != nil {
		t.Fatalf("a small GIF of zeros: %v", err)
	}
}

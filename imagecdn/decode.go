package imagecdn

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"

	"golang.org/x/image/webp"

	"github.com/pushgate/pushgate"
)

// Limits bound what a source may cost. Zero fields take the defaults.
type Limits struct {
	// MaxBytes is the largest source accepted (default 10 MiB).
	MaxBytes int64
	// MaxPixels is the largest width*height decoded (default 40 megapixels):
	// decoding allocates by the header's dimensions, so this is what keeps a
	// small hostile file from claiming gigabytes.
	MaxPixels int64
	// MaxSide is the longest side accepted (default 16384). Sides past it
	// are no real notification image and would make fill variants of very
	// thin images costly.
	MaxSide int
}

// Defaults of Limits.
const (
	DefaultMaxBytes  = 10 << 20
	DefaultMaxPixels = 40_000_000
	DefaultMaxSide   = 16384
)

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxPixels <= 0 {
		l.MaxPixels = DefaultMaxPixels
	}
	if l.MaxSide <= 0 {
		l.MaxSide = DefaultMaxSide
	}
	return l
}

// Formats recognised by sniffing. Only the first four are decoded.
const (
	FormatNameJPEG = "jpeg"
	FormatNamePNG  = "png"
	FormatNameGIF  = "gif"
	FormatNameWebP = "webp"
)

var supportedFormats = map[string]string{
	FormatNameJPEG: "image/jpeg",
	FormatNamePNG:  "image/png",
	FormatNameGIF:  "image/gif",
	FormatNameWebP: "image/webp",
}

// sniffLen is how many leading bytes sniff needs to tell every format apart.
const sniffLen = 512

// sniff names the image format of b from its leading bytes, never from what
// a server or client claims. It returns "" for anything not an image.
// Formats it recognises but Decode does not support are named too, so the
// error can say "unsupported format bmp" rather than "not an image".
func sniff(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte{0xff, 0xd8, 0xff}):
		return FormatNameJPEG
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return FormatNamePNG
	case bytes.HasPrefix(b, []byte("GIF87a")), bytes.HasPrefix(b, []byte("GIF89a")):
		return FormatNameGIF
	case len(b) >= 12 && bytes.HasPrefix(b, []byte("RIFF")) && string(b[8:12]) == "WEBP":
		return FormatNameWebP
	case bytes.HasPrefix(b, []byte("BM")) && len(b) >= 14 && bytes.Equal(b[6:10], []byte{0, 0, 0, 0}):
		return "bmp"
	case bytes.HasPrefix(b, []byte("II*\x00")), bytes.HasPrefix(b, []byte("MM\x00*")):
		return "tiff"
	case bytes.HasPrefix(b, []byte{0, 0, 1, 0}), bytes.HasPrefix(b, []byte{0, 0, 2, 0}):
		return "ico"
	case bytes.HasPrefix(b, []byte{0xff, 0x0a}), bytes.HasPrefix(b, []byte("\x00\x00\x00\x0cJXL \r\n\x87\n")):
		return "jxl"
	case len(b) >= 12 && string(b[4:8]) == "ftyp":
		switch string(b[8:12]) {
		case "avif", "avis":
			return "avif"
		case "heic", "heix", "hevc", "heim", "heis", "mif1", "msf1":
			return "heic"
		}
	}
	head := bytes.TrimLeft(b, "\xef\xbb\xbf \t\r\n")
	if (bytes.HasPrefix(head, []byte("<svg")) || bytes.HasPrefix(head, []byte("<?xml"))) && bytes.Contains(b, []byte("<svg")) {
		return "svg"
	}
	return ""
}

// checkFormat refuses anything Decode cannot handle, from the first bytes
// alone, so a fetch can stop before downloading the rest.
func checkFormat(head []byte) (format string, err error) {
	format = sniff(head)
	if format == "" {
		return "", pushgate.Errorf(pushgate.EUNPROCESSABLE, "not an image (expected JPEG, PNG, GIF or WebP)")
	}
	if _, ok := supportedFormats[format]; !ok {
		return "", pushgate.Errorf(pushgate.EUNPROCESSABLE, "unsupported image format %s (expected JPEG, PNG, GIF or WebP)", format)
	}
	return format, nil
}

// Decoded is a decoded source.
type Decoded struct {
	Image  image.Image
	Format string // FormatNameJPEG, ...
	// Orientation is the EXIF orientation (1-8) of a JPEG, 1 otherwise. The
	// pixels are as stored; applying it is up to the caller.
	Orientation int
}

// Decode decodes the first frame of a JPEG, PNG, GIF or WebP image. It reads
// the header first and refuses images over limits before anything the size
// of the image is allocated.
//
// What a decode may allocate is then bounded by MaxPixels times a few bytes
// (4:2:0 JPEG 1.5, RGBA 4, 16-bit PNG 8; a progressive JPEG adds 4 per
// pixel and component for its coefficients, so up to 20 for CMYK), plus one
// fixed cost: x/image/vp8l allocates the prefix-code tables a lossless WebP
// names before reading them, up to about 170 MB for a file of a few bytes.
func Decode(data []byte, limits Limits) (*Decoded, error) {
	format, cfg, err := decodeHeader(data, limits.withDefaults())
	if err != nil {
		return nil, err
	}
	img, err := decodeImage(format, data)
	if err != nil {
		return nil, err
	}
	if b := img.Bounds(); b.Dx() != cfg.Width || b.Dy() != cfg.Height {
		return nil, corrupt(format, fmt.Errorf("decoded %dx%d, header said %dx%d", b.Dx(), b.Dy(), cfg.Width, cfg.Height))
	}
	d := &Decoded{Image: img, Format: format, Orientation: 1}
	if format == FormatNameJPEG {
		d.Orientation = jpegOrientation(data)
	}
	return d, nil
}

// decodeHeader names the format of data and reads its dimensions from the
// header, refusing it if they are over limits: nothing the size of the
// image is allocated before this has passed.
func decodeHeader(data []byte, limits Limits) (string, image.Config, error) {
	if int64(len(data)) > limits.MaxBytes {
		return "", image.Config{}, tooLarge(limits.MaxBytes)
	}
	format, err := checkFormat(data[:min(len(data), sniffLen)])
	if err != nil {
		return "", image.Config{}, err
	}
	cfg, err := decodeConfig(format, data)
	if err != nil {
		return "", image.Config{}, err
	}
	if err := checkDimensions(cfg.Width, cfg.Height, limits); err != nil {
		return "", image.Config{}, err
	}
	if format == FormatNameWebP {
		// The x/image decoder sizes its buffers from the frame inside the
		// container, which need not match the canvas DecodeConfig reports.
		if err := checkWebPFrame(data, cfg, limits); err != nil {
			return "", image.Config{}, err
		}
	}
	return format, cfg, nil
}

func checkDimensions(w, h int, limits Limits) error {
	if w <= 0 || h <= 0 {
		return pushgate.Errorf(pushgate.EUNPROCESSABLE, "image is corrupt: it has no pixels (%dx%d)", w, h)
	}
	if w > limits.MaxSide || h > limits.MaxSide {
		return pushgate.Errorf(pushgate.ETOOLARGE, "image is %dx%d: a side is longer than %d pixels", w, h, limits.MaxSide)
	}
	if int64(w)*int64(h) > limits.MaxPixels {
		return pushgate.Errorf(pushgate.ETOOLARGE, "image is %dx%d: more than %.1f megapixels", w, h, float64(limits.MaxPixels)/1e6)
	}
	return nil
}

func decodeConfig(format string, data []byte) (cfg image.Config, err error) {
	defer recoverDecoder(format, &err)
	r := bytes.NewReader(data)
	switch format {
	case FormatNameJPEG:
		cfg, err = jpeg.DecodeConfig(r)
	case FormatNamePNG:
		cfg, err = png.DecodeConfig(r)
	case FormatNameGIF:
		cfg, err = gif.DecodeConfig(r)
	case FormatNameWebP:
		cfg, err = webp.DecodeConfig(r)
	}
	if err != nil {
		return image.Config{}, decodeError(format, err)
	}
	return cfg, nil
}

func decodeImage(format string, data []byte) (img image.Image, err error) {
	defer recoverDecoder(format, &err)
	r := bytes.NewReader(data)
	switch format {
	case FormatNameJPEG:
		img, err = jpeg.Decode(r)
	case FormatNamePNG:
		img, err = png.Decode(r)
	case FormatNameGIF:
		img, err = gif.Decode(r) // the first frame only
	case FormatNameWebP:
		img, err = webp.Decode(r)
	}
	if err != nil {
		return nil, decodeError(format, err)
	}
	return img, nil
}

// recoverDecoder turns a decoder panic into a corrupt-image error: the input
// is hostile by assumption, and one bad image must not take a worker down.
func recoverDecoder(format string, err *error) {
	if p := recover(); p != nil {
		*err = corrupt(format, fmt.Errorf("decoder panic: %v", p))
	}
}

func decodeError(format string, err error) error {
	var (
		jpegUnsupported jpeg.UnsupportedError
		pngUnsupported  png.UnsupportedError
	)
	switch {
	case errors.As(err, &jpegUnsupported), errors.As(err, &pngUnsupported):
		return &pushgate.Error{Code: pushgate.EUNPROCESSABLE, Message: fmt.Sprintf("unsupported %s image: %s", format, err), Err: err}
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return &pushgate.Error{Code: pushgate.EUNPROCESSABLE, Message: fmt.Sprintf("%s image is truncated", format), Err: err}
	}
	return corrupt(format, err)
}

func corrupt(format string, err error) error {
	return &pushgate.Error{Code: pushgate.EUNPROCESSABLE, Message: fmt.Sprintf("%s image is truncated or corrupt", format), Err: err}
}

func tooLarge(max int64) error {
	return pushgate.Errorf(pushgate.ETOOLARGE, "image is larger than %s", formatBytes(max))
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// checkWebPFrame finds the first VP8 or VP8L chunk (the one the decoder
// decodes) and checks the dimensions its own header gives, which is what
// the decoder allocates by. With a VP8X header they must equal the canvas.
func checkWebPFrame(data []byte, cfg image.Config, limits Limits) error {
	const riffHeader = 12
	if len(data) < riffHeader {
		return pushgate.Errorf(pushgate.EUNPROCESSABLE, "webp image is truncated")
	}
	riffEnd := riffHeader - 4 + int64(binary.LittleEndian.Uint32(data[4:8]))
	rest := data[riffHeader:min(int64(len(data)), riffEnd)]
	canvas := false
	for len(rest) >= 8 {
		id := string(rest[:4])
		n := int64(binary.LittleEndian.Uint32(rest[4:8]))
		if n > int64(len(rest)-8) {
			n = int64(len(rest) - 8)
		}
		chunk := rest[8 : 8+n]
		switch id {
		case "VP8X":
			canvas = true
			if len(chunk) > 0 && chunk[0]&0x02 != 0 {
				return pushgate.Errorf(pushgate.EUNPROCESSABLE, "unsupported webp image: animated")
			}
		case "VP8 ", "VP8L":
			w, h, ok := webpFrameSize(id, chunk)
			if !ok {
				return pushgate.Errorf(pushgate.EUNPROCESSABLE, "webp image is corrupt")
			}
			if err := checkDimensions(w, h, limits); err != nil {
				return err
			}
			if canvas && (w != cfg.Width || h != cfg.Height) {
				return pushgate.Errorf(pushgate.EUNPROCESSABLE, "webp image is corrupt: frame %dx%d on a %dx%d canvas", w, h, cfg.Width, cfg.Height)
			}
			return nil
		}
		next := 8 + n + n&1 // chunks are padded to an even length
		if next > int64(len(rest)) {
			break
		}
		rest = rest[next:]
	}
	return pushgate.Errorf(pushgate.EUNPROCESSABLE, "webp image is corrupt: no image data")
}

// webpFrameSize reads a frame's size: for VP8, from the key frame header
// (3-byte frame tag, start code 9d 01 2a, then 14-bit width and height,
// each with 2 bits of scaling above); for VP8L, from the 0x2f signature
// byte followed by 14-bit width-1 and height-1, least significant bit first.
func webpFrameSize(id string, b []byte) (w, h int, ok bool) {
	switch id {
	case "VP8 ":
		if len(b) < 10 || b[3] != 0x9d || b[4] != 0x01 || b[5] != 0x2a {
			return 0, 0, false
		}
		return int(binary.LittleEndian.Uint16(b[6:8]) & 0x3fff), int(binary.LittleEndian.Uint16(b[8:10]) & 0x3fff), true
	case "VP8L":
		if len(b) < 5 || b[0] != 0x2f {
			return 0, 0, false
		}
		bits := binary.LittleEndian.Uint32(b[1:5])
		return int(bits&0x3fff) + 1, int(bits>>14&0x3fff) + 1, true
	}
	return 0, 0, false
}

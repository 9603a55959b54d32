package imagecdn

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"

	"github.com/disintegration/imaging"
)

// rendered is one encoded variant.
type rendered struct {
	variant       Variant
	data          []byte
	contentType   string
	ext           string
	width, height int
}

// render makes every variant of d.
//
// The full-size source is resampled once, into the smallest intermediate
// that still has at least the resolution each variant needs; the variants
// are then cut from that. Resampling a 12-megapixel photo four times would
// cost four times as much for no visible gain. Resampling uses Lanczos, the
// sharpest filter imaging offers; a decoded JPEG far larger than needed is
// first box-averaged by an integer factor (shrinkYCbCr), which leaves
// Lanczos the last 1.25-2.5x and takes the cost of reading 12 megapixels
// from about 150 ms of CPU to about 30.
func render(d *Decoded, variants []Variant, jpegQuality int) ([]rendered, error) {
	src := d.Image
	sw, sh := src.Bounds().Dx(), src.Bounds().Dy()
	ow, oh := sw, sh
	if swapsSides(d.Orientation) {
		ow, oh = sh, sw
	}
	scale := 0.0
	for _, v := range variants {
		scale = math.Max(scale, neededScale(v, ow, oh))
	}
	base := src
	if scale < 1 {
		if ycc, ok := src.(*image.YCbCr); ok {
			if k := shrinkFactor(scale); k >= 2 {
				base = shrinkYCbCr(ycc, k)
			}
		}
		base = imaging.Resize(base, ceilScaled(sw, scale), ceilScaled(sh, scale), imaging.Lanczos)
	}
	base = orient(base, d.Orientation)

	out := make([]rendered, 0, len(variants))
	for _, v := range variants {
		img := shape(base, v)
		if v.Gray {
			img = imaging.Grayscale(img)
		}
		r, err := encode(img, v, jpegQuality)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// neededScale is the scale of the (upright) source a variant samples at:
// more detail than this is thrown away by the variant's own resize.
func neededScale(v Variant, w, h int) float64 {
	sx, sy := float64(v.Width)/float64(w), float64(v.Height)/float64(h)
	switch v.Mode {
	case ModeFill:
		return math.Max(sx, sy)
	case ModeFit:
		return math.Min(math.Min(sx, sy), 1)
	default: // ModePad
		return math.Min(sx, sy)
	}
}

func ceilScaled(n int, s float64) int {
	return max(1, int(math.Ceil(float64(n)*s)))
}

func roundScaled(n int, s float64) int {
	return max(1, int(math.Round(float64(n)*s)))
}

// shape scales and crops base into v's box.
func shape(base image.Image, v Variant) *image.NRGBA {
	w, h := base.Bounds().Dx(), base.Bounds().Dy()
	switch v.Mode {
	case ModeFill:
		// Crop to the box's aspect ratio first, so only the part that is
		// kept gets resampled, and a very thin source never becomes a huge
		// intermediate on its way to a small square.
		cw, ch := w, h
		if int64(w)*int64(v.Height) > int64(h)*int64(v.Width) {
			cw = max(1, int(math.Round(float64(h)*float64(v.Width)/float64(v.Height))))
		} else {
			ch = max(1, int(math.Round(float64(w)*float64(v.Height)/float64(v.Width))))
		}
		cropped := imaging.CropCenter(base, cw, ch)
		return imaging.Resize(cropped, v.Width, v.Height, imaging.Lanczos)
	case ModeFit:
		s := math.Min(float64(v.Width)/float64(w), float64(v.Height)/float64(h))
		if s >= 1 {
			return imaging.Clone(base)
		}
		return imaging.Resize(base, roundScaled(w, s), roundScaled(h, s), imaging.Lanczos)
	default: // ModePad
		s := math.Min(float64(v.Width)/float64(w), float64(v.Height)/float64(h))
		fitted := imaging.Resize(base, min(v.Width, roundScaled(w, s)), min(v.Height, roundScaled(h, s)), imaging.Lanczos)
		return imaging.PasteCenter(imaging.New(v.Width, v.Height, color.NRGBA{}), fitted)
	}
}

// encode writes img in v's format. Only pixels are written, so no metadata
// of the source (EXIF, XMP, ICC, comments) survives.
func encode(img *image.NRGBA, v Variant, jpegQuality int) (rendered, error) {
	r := rendered{variant: v, width: img.Rect.Dx(), height: img.Rect.Dy()}
	opaque := isOpaque(img)
	useJPEG := v.Format == FormatJPEG || v.Format == FormatAuto && opaque
	var buf bytes.Buffer
	if useJPEG {
		if !opaque {
			white := imaging.New(r.width, r.height, color.White)
			img = imaging.Overlay(white, img, image.Point{}, 1)
		}
		// With every alpha at 255, NRGBA and RGBA hold the same bytes, and
		// the JPEG encoder has a fast path for RGBA only.
		rgba := &image.RGBA{Pix: img.Pix, Stride: img.Stride, Rect: img.Rect}
		if err := jpeg.Encode(&buf, rgba, &jpeg.Options{Quality: jpegQuality}); err != nil {
			return rendered{}, err
		}
		r.contentType, r.ext = "image/jpeg", "jpg"
	} else {
		if err := (&png.Encoder{CompressionLevel: png.DefaultCompression}).Encode(&buf, img); err != nil {
			return rendered{}, err
		}
		r.contentType, r.ext = "image/png", "png"
	}
	r.data = buf.Bytes()
	return r, nil
}

func isOpaque(img *image.NRGBA) bool {
	w := img.Rect.Dx() * 4
	for y := 0; y < img.Rect.Dy(); y++ {
		row := img.Pix[y*img.Stride : y*img.Stride+w]
		for i := 3; i < len(row); i += 4 {
			if row[i] != 0xff {
				return false
			}
		}
	}
	return true
}

package imagecdn

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// Mode is how a source is fitted into a variant's box.
type Mode string

const (
	// ModeFill scales the source to cover the box and crops the overflow
	// around the centre: the result is exactly Width x Height. Small sources
	// are enlarged, because platforms lay these out at a fixed size.
	ModeFill Mode = "fill"
	// ModeFit scales the source down to fit inside the box, keeping its
	// aspect ratio; it never enlarges.
	ModeFit Mode = "fit"
	// ModePad fits the source inside the box (enlarging if needed) and
	// centres it on a transparent Width x Height canvas, so nothing is cut.
	ModePad Mode = "pad"
)

// Format is the encoding of a variant.
type Format string

const (
	// FormatAuto is JPEG when the variant's pixels are all opaque and PNG
	// when any is transparent: JPEG is several times smaller for photos,
	// but has no alpha.
	FormatAuto Format = "auto"
	// FormatJPEG always encodes JPEG, flattening transparency onto white.
	FormatJPEG Format = "jpeg"
	// FormatPNG always encodes PNG.
	FormatPNG Format = "png"
)

// Variant describes one output image made from every source.
type Variant struct {
	// Name is part of the key and how callers pick a variant: 1-32 of
	// [a-z0-9].
	Name          string
	Width, Height int // the box, 1-4096 each
	Mode          Mode
	Format        Format
	// Gray drops colour, keeping alpha.
	Gray bool
}

// DefaultVariants are the sizes each platform wants:
//
//	name   box        mode  format  use
//	icon   192x192    fill  auto    Web Push and Android icon, large icon of FCM; 192 is Chrome's recommended icon size
//	badge  96x96      pad   png     Web Push badge and Android small icon: gray, transparent padding; Android draws only its alpha
//	large  1024x512   fill  auto    Web Push image and FCM big picture: both are laid out at 2:1, so cropping here gives a
//	                                predictable picture instead of one cropped by each device
//	ios    1024x1024  fit   auto    APNS notification attachment (mutable-content): JPEG or PNG, far under Apple's 10 MB,
//	                                whole picture, never enlarged
func DefaultVariants() []Variant {
	return []Variant{
		{Name: "icon", Width: 192, Height: 192, Mode: ModeFill, Format: FormatAuto},
		{Name: "badge", Width: 96, Height: 96, Mode: ModePad, Format: FormatPNG, Gray: true},
		{Name: "large", Width: 1024, Height: 512, Mode: ModeFill, Format: FormatAuto},
		{Name: "ios", Width: 1024, Height: 1024, Mode: ModeFit, Format: FormatAuto},
	}
}

// maxVariantSide bounds a variant's box: more than any notification shows,
// and it bounds what enlarging a tiny source can cost.
const maxVariantSide = 4096

func validateVariants(vs []Variant) error {
	if len(vs) == 0 {
		return fmt.Errorf("imagecdn: no variants")
	}
	seen := map[string]bool{}
	for _, v := range vs {
		if !validName(v.Name) {
			return fmt.Errorf("imagecdn: variant name %q: want 1-32 of [a-z0-9]", v.Name)
		}
		if seen[v.Name] {
			return fmt.Errorf("imagecdn: variant %q twice", v.Name)
		}
		seen[v.Name] = true
		if v.Width < 1 || v.Height < 1 || v.Width > maxVariantSide || v.Height > maxVariantSide {
			return fmt.Errorf("imagecdn: variant %q: size %dx%d outside 1-%d", v.Name, v.Width, v.Height, maxVariantSide)
		}
		switch v.Mode {
		case ModeFill, ModeFit, ModePad:
		default:
			return fmt.Errorf("imagecdn: variant %q: unknown mode %q", v.Name, v.Mode)
		}
		switch v.Format {
		case FormatAuto, FormatJPEG, FormatPNG:
		default:
			return fmt.Errorf("imagecdn: variant %q: unknown format %q", v.Name, v.Format)
		}
	}
	return nil
}

func validName(s string) bool {
	if len(s) < 1 || len(s) > 32 {
		return false
	}
	for _, c := range []byte(s) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// renderVersion changes when the rendering itself changes (filter,
// cropping rules, encoder settings), so new output never hides behind old
// immutable keys.
const renderVersion = "r1"

// spec is everything that decides a variant's bytes apart from the source.
func (v Variant) spec(jpegQuality int) string {
	return fmt.Sprintf("%s:%s:%dx%d:%s:%s:gray=%t:q=%d", renderVersion, v.Name, v.Width, v.Height, v.Mode, v.Format, v.Gray, jpegQuality)
}

// variantKey names a variant of the source whose SHA-256 is digest:
// "<64 hex>-<name>.<ext>", the hex being SHA-256 over the source digest and
// the variant's spec. Same source and spec, same key, on every node.
func variantKey(digest string, v Variant, jpegQuality int, ext string) string {
	h := sha256.Sum256([]byte(digest + "\x00" + v.spec(jpegQuality)))
	return hex.EncodeToString(h[:]) + "-" + v.Name + "." + ext
}

// manifestKey names the record of all variants of a source for one variant
// list. It is written after every variant, so its presence means the
// source needs no more work.
func manifestKey(digest string, vs []Variant, jpegQuality int) string {
	var b strings.Builder
	b.WriteString("manifest\x00" + digest)
	for _, v := range vs {
		b.WriteString("\x00" + v.spec(jpegQuality))
	}
	h := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(h[:]) + ".json"
}

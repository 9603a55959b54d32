package imagecdn

import (
	"bytes"
	"encoding/binary"
	"image"

	"github.com/disintegration/imaging"
)

// jpegOrientation returns the EXIF orientation tag (1-8) of a JPEG, or 1
// when there is none or it cannot be read. Variants are re-encoded without
// metadata, so a phone photo stored sideways with an orientation tag would
// come out sideways unless the tag is applied to the pixels first.
func jpegOrientation(data []byte) int {
	if len(data) < 4 || data[0] != 0xff || data[1] != 0xd8 {
		return 1
	}
	p := 2
	for p+4 <= len(data) {
		if data[p] != 0xff {
			return 1
		}
		marker := data[p+1]
		if marker == 0xff { // fill byte before a marker
			p++
			continue
		}
		if marker == 0xd9 || marker == 0xda { // EOI, start of scan: no metadata past here
			return 1
		}
		if marker == 0x01 || marker >= 0xd0 && marker <= 0xd7 { // no length field
			p += 2
			continue
		}
		n := int(binary.BigEndian.Uint16(data[p+2 : p+4]))
		if n < 2 || p+2+n > len(data) {
			return 1
		}
		seg := data[p+4 : p+2+n]
		if marker == 0xe1 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")) {
			return tiffOrientation(seg[6:])
		}
		p += 2 + n
	}
	return 1
}

// tiffOrientation reads tag 0x0112 from IFD0 of an EXIF TIFF structure:
// a byte-order mark ("II" little, "MM" big endian), the number 42, the
// offset of IFD0, which holds a 2-byte entry count and 12-byte entries
// (tag, type, count, value); orientation is one SHORT (type 3).
func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 1
	}
	var order binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		order = binary.LittleEndian
	case "MM":
		order = binary.BigEndian
	default:
		return 1
	}
	if order.Uint16(t[2:4]) != 42 {
		return 1
	}
	ifd := int64(order.Uint32(t[4:8]))
	if ifd+2 > int64(len(t)) {
		return 1
	}
	count := int64(order.Uint16(t[ifd : ifd+2]))
	for i := int64(0); i < count; i++ {
		e := ifd + 2 + 12*i
		if e+12 > int64(len(t)) {
			return 1
		}
		if order.Uint16(t[e:e+2]) != 0x0112 {
			continue
		}
		if order.Uint16(t[e+2:e+4]) != 3 {
			return 1
		}
		if v := int(order.Uint16(t[e+8 : e+10])); v >= 1 && v <= 8 {
			return v
		}
		return 1
	}
	return 1
}

// orient applies an EXIF orientation so the result is upright. imaging
// rotates counter-clockwise; tag 6 means "rotate 90° clockwise to view".
func orient(img image.Image, orientation int) image.Image {
	switch orientation {
	case 2:
		return imaging.FlipH(img)
	case 3:
		return imaging.Rotate180(img)
	case 4:
		return imaging.FlipV(img)
	case 5:
		return imaging.Transpose(img)
	case 6:
		return imaging.Rotate270(img)
	case 7:
		return imaging.Transverse(img)
	case 8:
		return imaging.Rotate90(img)
	}
	return img
}

// swapsSides reports whether an orientation turns the image a quarter.
func swapsSides(orientation int) bool { return orientation >= 5 && orientation <= 8 }

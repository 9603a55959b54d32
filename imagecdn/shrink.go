package imagecdn

import (
	"image"
	"image/color"
	"runtime"
	"sync"
)

// shrinkFactor is the integer factor a source may be box-averaged down by
// before the Lanczos resize to scale s (< 1). It leaves Lanczos at least a
// 1.25x reduction to do, so the result keeps Lanczos' sharpness, while the
// costly full-size pass becomes a plain average.
func shrinkFactor(s float64) int {
	if s <= 0 {
		return 1
	}
	return max(1, int(1/s/1.25))
}

// shrinkYCbCr averages k x k blocks of a decoded JPEG (or lossy WebP) into
// an NRGBA image of ceil(w/k) x ceil(h/k). It averages Y, Cb and Cr and
// converts each average once: the conversion to RGB is affine, so this
// equals averaging RGB except for clamping at the gamut's edge, and it
// costs a few additions per source pixel instead of a conversion and a
// 20-tap filter, which is most of the time a 12-megapixel photo takes.
func shrinkYCbCr(src *image.YCbCr, k int) *image.NRGBA {
	b := src.Rect
	w, h := b.Dx(), b.Dy()
	ow, oh := (w+k-1)/k, (h+k-1)/k
	dst := image.NewNRGBA(image.Rect(0, 0, ow, oh))
	cxShift, cyShift := chromaShift(src.SubsampleRatio)

	bands := min(runtime.GOMAXPROCS(0), oh)
	var wg sync.WaitGroup
	for band := range bands {
		wg.Go(func() {
			sums := make([]uint32, 3*ow)
			for oy := band * oh / bands; oy < (band+1)*oh/bands; oy++ {
				clear(sums)
				y0, y1 := b.Min.Y+oy*k, min(b.Max.Y, b.Min.Y+oy*k+k)
				for y := y0; y < y1; y++ {
					yRow := src.Y[(y-b.Min.Y)*src.YStride:]
					cRow := (y>>cyShift - b.Min.Y>>cyShift) * src.CStride
					for ox, x := 0, 0; ox < ow; ox++ {
						var sy, sb, sr uint32
						for end := min(w, x+k); x < end; x++ {
							ci := cRow + (b.Min.X+x)>>cxShift - b.Min.X>>cxShift
							sy += uint32(yRow[x])
							sb += uint32(src.Cb[ci])
							sr += uint32(src.Cr[ci])
						}
						sums[3*ox] += sy
						sums[3*ox+1] += sb
						sums[3*ox+2] += sr
					}
				}
				row := dst.Pix[oy*dst.Stride:]
				rows := uint32(y1 - y0)
				for ox := 0; ox < ow; ox++ {
					n := rows * uint32(min(k, w-ox*k))
					s := sums[3*ox:]
					r, g, bl := color.YCbCrToRGB(uint8((s[0]+n/2)/n), uint8((s[1]+n/2)/n), uint8((s[2]+n/2)/n))
					p := row[4*ox:]
					p[0], p[1], p[2], p[3] = r, g, bl, 0xff
				}
			}
		})
	}
	wg.Wait()
	return dst
}

// chromaShift gives how many bits to shift a luma x and y by to find the
// chroma sample, for each subsampling JPEG uses.
func chromaShift(r image.YCbCrSubsampleRatio) (x, y uint) {
	switch r {
	case image.YCbCrSubsampleRatio422:
		return 1, 0
	case image.YCbCrSubsampleRatio420:
		return 1, 1
	case image.YCbCrSubsampleRatio440:
		return 0, 1
	case image.YCbCrSubsampleRatio411:
		return 2, 0
	case image.YCbCrSubsampleRatio410:
		return 2, 1
	}
	return 0, 0
}

package imagecdn

import (
	"image"
	"image/color"
	"math/rand/v2"
	"testing"
)

// shrinkYCbCr must equal averaging the RGB of each block, for every chroma
// subsampling, odd sizes (partial blocks at the edges) and offset bounds.
func TestShrinkYCbCrAveragesBlocks(t *testing.T) {
	ratios := []image.YCbCrSubsampleRatio{
		image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio420,
		image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410,
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, ratio := range ratios {
		for _, k := range []int{2, 3, 5} {
			src := image.NewYCbCr(image.Rect(4, 8, 4+53, 8+37), ratio)
			// Smooth planes with a little noise: like a photo, and inside
			// the RGB gamut, where averaging YCbCr and RGB agree.
			for i := range src.Y {
				src.Y[i] = uint8(100 + i%37 + rng.IntN(8))
			}
			for i := range src.Cb {
				src.Cb[i] = uint8(118 + i%11 + rng.IntN(4))
				src.Cr[i] = uint8(122 + i%13 + rng.IntN(4))
			}
			got := shrinkYCbCr(src, k)
			b := src.Bounds()
			if want := image.Rect(0, 0, (b.Dx()+k-1)/k, (b.Dy()+k-1)/k); got.Rect != want {
				t.Fatalf("%v k=%d: %v, want %v", ratio, k, got.Rect, want)
			}
			for oy := 0; oy < got.Rect.Dy(); oy++ {
				for ox := 0; ox < got.Rect.Dx(); ox++ {
					var r, g, bl, n int
					for y := b.Min.Y + oy*k; y < min(b.Max.Y, b.Min.Y+oy*k+k); y++ {
						for x := b.Min.X + ox*k; x < min(b.Max.X, b.Min.X+ox*k+k); x++ {
							c := color.NRGBAModel.Convert(src.At(x, y)).(color.NRGBA)
							r, g, bl, n = r+int(c.R), g+int(c.G), bl+int(c.B), n+1
						}
					}
					want := color.NRGBA{uint8((r + n/2) / n), uint8((g + n/2) / n), uint8((bl + n/2) / n), 255}
					if c := got.NRGBAAt(ox, oy); !within(c, want, 2) {
						t.Fatalf("%v k=%d at %d,%d: %v, want %v", ratio, k, ox, oy, c, want)
					}
				}
			}
		}
	}
}

func within(a, b color.NRGBA, tol int) bool {
	d := func(x, y uint8) bool { return int(x)-int(y) <= tol && int(y)-int(x) <= tol }
	return d(a.R, b.R) && d(a.G, b.G) && d(a.B, b.B) && a.A == b.A
}

func TestShrinkFactor(t *testing.T) {
	for s, want := range map[float64]int{1: 1, 0.9: 1, 0.5: 1, 0.4: 2, 0.256: 3, 0.1: 8, 0.01: 80} {
		if got := shrinkFactor(s); got != want {
			t.Errorf("scale %v: %d, want %d", s, got, want)
		}
	}
}

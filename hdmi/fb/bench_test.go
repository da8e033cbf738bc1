package fb

import (
	"image"
	"testing"
)

func BenchmarkEncode(b *testing.B) {
	img := image.NewRGBA(image.Rect(0, 0, 1920, 1080))
	for _, info := range []Info{XRGB8888(1920, 1080), RGB565(1920, 1080)} {
		b.Run(info.ID, func(b *testing.B) {
			var buf []byte
			b.SetBytes(int64(len(img.Pix)))
			for b.Loop() {
				buf, _ = Encode(buf, info, img)
			}
		})
	}
}

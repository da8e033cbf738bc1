package screen_test

import (
	"fmt"
	"testing"

	"oepc.dev/oepcos/hdmi/screen/screentest"
)

// BenchmarkRender is the time to redraw the whole screen.
func BenchmarkRender(b *testing.B) {
	r := renderer(b)
	for _, sz := range sizes {
		b.Run(fmt.Sprintf("%dx%d", sz.X, sz.Y), func(b *testing.B) {
			st := screentest.Full()
			for b.Loop() {
				r.Render(sz.X, sz.Y, st)
			}
		})
	}
}

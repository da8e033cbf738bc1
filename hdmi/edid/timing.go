package edid

// Timing is one video timing: active size, refresh, pixel clock and the
// porches. For an interlaced timing H is the frame height (1080 for 1080i),
// Hz the field rate (60 for 1080i60) and the vertical porches are per field,
// as CTA-861 and edid-decode give them.
type Timing struct {
	W, H            int
	Hz              float64
	PixelClockKHz   int
	Interlaced      bool
	Aspect          string `json:",omitempty"`
	HFront, HSync   int
	HBack           int
	HSyncPositive   bool
	VFront, VSync   int
	VBack           int
	VSyncPositive   bool
	ReducedBlanking bool `json:",omitempty"`
}

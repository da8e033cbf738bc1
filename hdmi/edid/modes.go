package edid

import (
	"math"
	"slices"
)

// Preferred returns the display's preferred mode: the first detailed
// timing of the base block when the EDID marks it preferred, else the
// preferred DisplayID timing (displays with DisplayID-only timings), else
// the first DTD of a CTA block, else the first VIC (CTA-861 lists SVDs in
// order of preference). ok is false when the EDID names none.
func (e *EDID) Preferred() (Mode, bool) {
	p, ok := e.preferred()
	if !ok {
		return p, false
	}
	// The same timing in Modes carries what other blocks say of it (its
	// VIC, native flag, 4:2:0 support).
	k := keyOf(p)
	for _, m := range e.Modes() {
		if keyOf(m) == k {
			m.Preferred = true
			return m, true
		}
	}
	return p, true
}

func (e *EDID) preferred() (Mode, bool) {
	if len(e.DTDs) > 0 && e.DTDs[0].Preferred {
		return e.DTDs[0], true
	}
	for _, d := range e.DisplayID {
		for _, m := range d.Timings {
			if m.Preferred {
				return m, true
			}
		}
	}
	if len(e.DTDs) > 0 {
		// A DTD not flagged preferred (the 1.3 feature bit cleared) is
		// no preferred mode: the caller chooses among all modes.
		return Mode{}, false
	}
	for _, c := range e.CTA {
		if len(c.DTDs) > 0 {
			m := c.DTDs[0]
			m.Preferred = true
			return m, true
		}
	}
	for _, m := range e.Modes() {
		if m.Source == SourceVIC {
			m.Preferred = true
			return m, true
		}
	}
	return Mode{}, false
}

// VICs returns the VICs of every Video Data Block, in the order given.
func (e *EDID) VICs() []int {
	var v []int
	for _, c := range e.CTA {
		v = append(v, c.VICs...)
	}
	return v
}

// MaxTMDSKHz is the highest TMDS character rate the display accepts over
// HDMI: the HDMI Forum VSDB's when it has one above 340 MHz, else the HDMI
// VSDB's max TMDS clock; 0 when the EDID gives none (not an HDMI sink, or
// an HDMI sink that says nothing: 165 MHz then by HDMI 1.x).
func (e *EDID) MaxTMDSKHz() int {
	best := 0
	for _, c := range e.CTA {
		if c.HDMIForum != nil && c.HDMIForum.MaxTMDSCharacterRateKHz > best {
			best = c.HDMIForum.MaxTMDSCharacterRateKHz
		}
		if c.HDMI != nil && c.HDMI.MaxTMDSKHz > best {
			best = c.HDMI.MaxTMDSKHz
		}
	}
	return best
}

// IsHDMI says the display has an HDMI 1.x VSDB (an HDMI sink, not DVI/DP).
func (e *EDID) IsHDMI() bool {
	for _, c := range e.CTA {
		if c.HDMI != nil {
			return true
		}
	}
	return false
}

// Modes returns every mode the display lists, once each (the first
// occurrence wins; a later duplicate only adds its flags): DTDs of the base
// block, DisplayID timings, CTA DTDs, VICs, HDMI VICs, standard and
// established timings.
func (e *EDID) Modes() []Mode {
	var out []Mode
	seen := make(map[modeKey]int)
	add := func(m Mode) {
		k := keyOf(m)
		if i, ok := seen[k]; ok {
			o := &out[i]
			o.Native = o.Native || m.Native
			o.YCbCr420Also = o.YCbCr420Also || m.YCbCr420Also || m.YCbCr420Only
			// listed 4:2:0-only once but also as a normal mode: the
			// display takes RGB too.
			o.YCbCr420Only = o.YCbCr420Only && m.YCbCr420Only
			if o.VIC == 0 && m.Source == SourceVIC {
				o.VIC = m.VIC
			}
			return
		}
		seen[k] = len(out)
		out = append(out, m)
	}
	for _, m := range e.DTDs {
		add(m)
	}
	for _, d := range e.DisplayID {
		for _, m := range d.Timings {
			add(m)
		}
	}
	for _, c := range e.CTA {
		for _, m := range c.DTDs {
			add(m)
		}
	}
	for _, x := range e.Extensions {
		for _, m := range x.Timings {
			add(m)
		}
	}
	for _, c := range e.CTA {
		for _, vic := range c.VICs {
			t, ok := VIC(vic)
			if !ok {
				continue
			}
			add(Mode{Timing: t, Source: SourceVIC, VIC: vic,
				Native:       slices.Contains(c.NativeVICs, vic),
				YCbCr420Also: slices.Contains(c.YCbCr420Also, vic)})
		}
		for _, vic := range c.YCbCr420Only {
			if t, ok := VIC(vic); ok {
				add(Mode{Timing: t, Source: SourceVIC, VIC: vic, YCbCr420Only: true})
			}
		}
		for _, vic := range c.HDMIVICs {
			if t, ok := HDMIVIC(vic); ok {
				add(Mode{Timing: t, Source: SourceHDMIVIC, VIC: vic})
			}
		}
	}
	rev := e.Revision
	for _, st := range e.Standard {
		add(standardMode(st, rev))
	}
	for _, m := range e.CVT3 {
		add(m)
	}
	for _, m := range e.Established {
		add(m)
	}
	for _, m := range e.EstablishedIII {
		add(m)
	}
	return out
}

// modeKey identifies a timing for Modes' deduplication: the same size,
// scan and refresh (to 0.01 Hz) and pixel clock (to 0.1 MHz, so a DTD of
// VIC 16 meets VIC 16).
type modeKey struct {
	w, h       int
	interlaced bool
	cHz        int
	clk100kHz  int
}

func keyOf(m Mode) modeKey {
	return modeKey{m.W, m.H, m.Interlaced, int(math.Round(m.Hz * 100)), (m.PixelClockKHz + 50) / 100}
}

// StandardModes returns the standard timings resolved to modes (DMT, or a
// CVT estimate), in order.
func (e *EDID) StandardModes() []Mode {
	out := make([]Mode, 0, len(e.Standard))
	for _, st := range e.Standard {
		out = append(out, standardMode(st, e.Revision))
	}
	return out
}

// standardMode resolves a standard timing: the DMT timing of that size and
// rate (the non-reduced-blanking one when DMT has both), else a CVT
// estimate.
func standardMode(st StandardTiming, rev int) Mode {
	var rb *Timing
	for i := range dmtTable {
		t := dmtTable[i]
		if t.W == st.W && t.H == st.H && !t.Interlaced && int(math.Round(t.Hz)) == st.Hz {
			if !t.ReducedBlanking {
				return Mode{Timing: t, Source: SourceStandard}
			}
			rb = &dmtTable[i]
		}
	}
	if rb != nil {
		return Mode{Timing: *rb, Source: SourceStandard}
	}
	return Mode{Timing: CVT(st.W, st.H, float64(st.Hz)), Source: SourceStandard, Estimated: true}
}

// CVT computes a VESA CVT 1.2 timing (normal blanking, progressive), the
// way edid-decode --cvt does.
func CVT(w, h int, hz float64) Timing {
	const (
		cellGran  = 8.0
		minVSBP   = 550.0 // µs
		minVPorch = 3
		hSyncPct  = 0.08
		cPrime    = 30.0 // (C-J)*K/256 + J
		mPrime    = 300.0
		clockStep = 250.0 // kHz
	)
	hact := math.Floor(float64(w)/cellGran) * cellGran
	vsync := cvtVSync(w, h)
	hPeriod := (1/hz - minVSBP/1e6) / (float64(h) + minVPorch) * 1e6 // µs
	vsbp := math.Floor(minVSBP/hPeriod) + 1
	if vsbp < float64(vsync)+6 {
		vsbp = float64(vsync) + 6
	}
	vtot := float64(h) + vsbp + minVPorch
	idc := cPrime - mPrime*hPeriod/1000
	if idc < 20 {
		idc = 20
	}
	hblank := math.Floor(hact*idc/(100-idc)/(2*cellGran)) * 2 * cellGran
	htot := hact + hblank
	clk := math.Floor(htot/hPeriod*1000/clockStep) * clockStep // kHz
	hsync := math.Floor(hSyncPct*htot/cellGran) * cellGran
	t := Timing{W: w, H: h, PixelClockKHz: int(clk), Aspect: aspect(w, h),
		HFront: int(hblank/2 - hsync), HSync: int(hsync), HBack: int(hblank / 2),
		VFront: minVPorch, VSync: vsync, VBack: int(vsbp) - vsync, VSyncPositive: true}
	t.Hz = clk * 1000 / (htot * vtot)
	return t
}

// CVTRB computes a VESA CVT reduced-blanking (version 1) timing, as
// edid-decode does.
func CVTRB(w, h int, hz float64) Timing {
	const (
		hBlank    = 160
		hSync     = 32
		minVBlank = 460.0 // µs
		vFPorch   = 3
		minVBP    = 6
		clockStep = 250.0 // kHz
	)
	w = w / 8 * 8
	vsync := cvtVSync(w, h)
	hPeriod := (1e6/hz - minVBlank) / float64(h) // µs
	vbi := int(math.Floor(minVBlank/hPeriod)) + 1
	if m := vFPorch + vsync + minVBP; vbi < m {
		vbi = m
	}
	vtot := h + vbi
	htot := w + hBlank
	clk := math.Floor(hz*float64(vtot)*float64(htot)/1000/clockStep) * clockStep // kHz
	t := Timing{W: w, H: h, PixelClockKHz: int(clk), Aspect: aspect(w, h), ReducedBlanking: true,
		HFront: hBlank/2 - hSync, HSync: hSync, HBack: hBlank / 2, HSyncPositive: true,
		VFront: vFPorch, VSync: vsync, VBack: vbi - vFPorch - vsync}
	t.Hz = clk * 1000 / float64(htot*vtot)
	return t
}

// cvtVSync is CVT's vertical sync width, which encodes the aspect ratio.
func cvtVSync(w, h int) int {
	switch r := float64(w) / float64(h); {
	case math.Abs(r-4.0/3) < 0.01:
		return 4
	case math.Abs(r-16.0/9) < 0.01:
		return 5
	case math.Abs(r-16.0/10) < 0.01:
		return 6
	case math.Abs(r-5.0/4) < 0.01 || math.Abs(r-15.0/9) < 0.01:
		return 7
	}
	return 10
}

package mode_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"oepc.dev/oepcos/hdmi/edid"
	"oepc.dev/oepcos/hdmi/edid/edidtest"
	"oepc.dev/oepcos/hdmi/mode"
)

func load(t *testing.T, name string) *edid.EDID {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(edidtest.CorpusDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	e, err := edid.Parse(b)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return e
}

func vicMode(t *testing.T, vic int) edid.Mode {
	t.Helper()
	tm, ok := edid.VIC(vic)
	if !ok {
		t.Fatalf("no VIC %d", vic)
	}
	return edid.Mode{Timing: tm, Source: edid.SourceDTD}
}

type want struct {
	w, h       int
	hz         int
	interlaced bool
	preferred  bool
	ycbcr420   bool
	reason     string // a part of the reason
}

func check(t *testing.T, c mode.Choice, err error, w want) {
	t.Helper()
	if err != nil {
		t.Fatalf("Choose: %v", err)
	}
	m := c.Mode
	if m.W != w.w || m.H != w.h || int(m.Hz+0.5) != w.hz || m.Interlaced != w.interlaced || c.Preferred != w.preferred || c.YCbCr420 != w.ycbcr420 {
		t.Errorf("chose %v (preferred %v, 4:2:0 %v), want %dx%d@%d interlaced=%v preferred=%v 4:2:0=%v; reason: %s",
			m, c.Preferred, c.YCbCr420, w.w, w.h, w.hz, w.interlaced, w.preferred, w.ycbcr420, c.Reason)
	}
	if !strings.Contains(c.Reason, w.reason) {
		t.Errorf("reason %q does not say %q", c.Reason, w.reason)
	}
}

func TestPreferredFits(t *testing.T) {
	e := load(t, "tv_samsung_qcq90_hf_eeodb_2023.bin")
	c, err := mode.Choose(e, mode.Default)
	check(t, c, err, want{w: 3840, h: 2160, hz: 60, preferred: true, reason: "preferred mode: 3840x2160p60"})
	if c.TMDSKHz != 594000 {
		t.Errorf("TMDS %d kHz, want 594000", c.TMDSKHz)
	}
}

// The preferred 4K60 (594 MHz) is too fast for an HDMI 1.4 output
// (340 MHz): the best that fits is 4K30 (297 MHz).
func TestPreferredTooFast(t *testing.T) {
	e := load(t, "tv_samsung_qcq90_hf_eeodb_2023.bin")
	cfg := mode.Config{MaxPixelClockKHz: 340000, MaxTMDSKHz: 340000}
	c, err := mode.Choose(e, cfg)
	check(t, c, err, want{w: 4096, h: 2160, hz: 30, reason: "above the output's 340.00 MHz"})
	// With a 3840-wide framebuffer: 3840x2160 at 30.
	cfg.MaxWidth = 3840
	c, err = mode.Choose(e, cfg)
	check(t, c, err, want{w: 3840, h: 2160, hz: 30, reason: "best of"})
	// The same output sending 4:2:0: 4K60 fits at half the TMDS rate
	// (the display's capability map lists VIC 97).
	// An HDMI 1.4 port (340 MHz TMDS) behind a faster CRTC, sending
	// 4:2:0: 4K60 fits at half the TMDS rate (the display's capability
	// map lists VIC 97).
	cfg = mode.Config{MaxPixelClockKHz: 600000, MaxTMDSKHz: 340000, YCbCr420: true}
	c, err = mode.Choose(e, cfg)
	check(t, c, err, want{w: 3840, h: 2160, hz: 60, preferred: true, ycbcr420: true, reason: "sent as YCbCr 4:2:0"})
	if c.TMDSKHz != 297000 {
		t.Errorf("TMDS %d kHz, want 297000", c.TMDSKHz)
	}
	// A 1080p-only output.
	c, err = mode.Choose(e, mode.Config{MaxPixelClockKHz: 165000, MaxWidth: 1920, MaxHeight: 1080})
	check(t, c, err, want{w: 1920, h: 1080, hz: 60, reason: "not used"})
}

// The display's own limit: an HDMI 1.x VSDB with no max TMDS clock means
// 165 MHz, and a mode above the display's TMDS limit is not chosen even
// when the box could drive it.
func TestDisplayTMDSLimit(t *testing.T) {
	e := load(t, "tv_sony_1080i50_2005.bin")
	if got := e.MaxTMDSKHz(); got != 0 || !e.IsHDMI() {
		t.Fatalf("MaxTMDSKHz %d, IsHDMI %v; want 0, true", got, e.IsHDMI())
	}
	e.DTDs = append(e.DTDs, vicMode(t, 16)) // 1080p60, 148.5 MHz: fits 165
	tm := vicMode(t, 63)                    // 1080p120, 297 MHz: does not
	e.DTDs = append(e.DTDs, tm)
	c, err := mode.Choose(e, mode.Default)
	check(t, c, err, want{w: 1920, h: 1080, hz: 60, reason: "interlaced"})
}

// Interlaced preferred: the Sony's 1080i50. An output without interlace
// takes the best progressive mode; one with interlace takes the preferred.
func TestInterlacedPreferred(t *testing.T) {
	e := load(t, "tv_sony_1080i50_2005.bin")
	c, err := mode.Choose(e, mode.Default)
	check(t, c, err, want{w: 1280, h: 720, hz: 60, reason: "interlaced, the output drives progressive only"})
	cfg := mode.Default
	cfg.Interlaced = true
	c, err = mode.Choose(e, cfg)
	check(t, c, err, want{w: 1920, h: 1080, hz: 50, interlaced: true, preferred: true, reason: "preferred mode"})
}

// A display with interlaced modes only.
func TestInterlacedOnly(t *testing.T) {
	i1080, i480 := vicMode(t, 5), vicMode(t, 6)
	i1080.Preferred = true
	e := &edid.EDID{DTDs: []edid.Mode{i1080, i480}}
	_, err := mode.Choose(e, mode.Default)
	if !errors.Is(err, mode.ErrNoMode) || !strings.Contains(err.Error(), "interlaced") {
		t.Fatalf("error %v, want ErrNoMode saying interlaced", err)
	}
	cfg := mode.Default
	cfg.Interlaced = true
	c, err := mode.Choose(e, cfg)
	check(t, c, err, want{w: 1920, h: 1080, hz: 60, interlaced: true, preferred: true, reason: "preferred"})
}

// Progressive over interlaced at the same frame rate: 1080p30 beats 1080i60
// (30 frames each); 1080p60 beats both.
func TestProgressiveOverInterlaced(t *testing.T) {
	cfg := mode.Default
	cfg.Interlaced = true
	e := &edid.EDID{CTA: []*edid.CTA{{VICs: []int{5, 34}}}}
	e.CTA[0].VICs = []int{5, 34}
	e.DTDs = nil
	// No DTD: the first VIC (1080i60) is the preferred; make it unusable
	// to see the ranking.
	c, err := mode.Choose(e, mode.Config{Interlaced: false})
	check(t, c, err, want{w: 1920, h: 1080, hz: 30, reason: "interlaced"})
	e.CTA[0].VICs = []int{4, 5, 34}
	c, err = mode.Choose(e, mode.Config{Interlaced: true, MaxWidth: 1920, MaxHeight: 1080})
	// VIC 4 (720p60) is the preferred and fits.
	check(t, c, err, want{w: 1280, h: 720, hz: 60, preferred: true, reason: "from vic (VIC 4)"})
	// Without a preferred mode the ranking picks: 1080p30 over 1080i60.
	e2 := &edid.EDID{DTDs: []edid.Mode{vicMode(t, 4), vicMode(t, 5), vicMode(t, 34)}}
	c, err = mode.Choose(e2, cfg)
	check(t, c, err, want{w: 1920, h: 1080, hz: 30, reason: "names no preferred mode"})
}

// 4:2:0-only modes: the Roku TV lists 4K60 (VIC 97) only in 4:2:0. Without
// 4:2:0 it is never chosen; with it, it is, at half the TMDS rate.
func TestYCbCr420Only(t *testing.T) {
	e := load(t, "tv_tcl_roku_4k30_2022.bin")
	var only []edid.Mode
	for _, m := range e.Modes() {
		if m.YCbCr420Only {
			only = append(only, m)
		}
	}
	if len(only) != 2 || only[0].VIC != 97 || only[1].VIC != 102 {
		t.Fatalf("4:2:0-only modes %v, want VICs 97, 102", only)
	}
	// Take the preferred 4K30 DTD out: the best is then 4K60 4:2:0-only,
	// unless the output cannot send 4:2:0.
	e.DTDs[0].Preferred = false
	e.DTDs = e.DTDs[1:]
	cfg := mode.Config{MaxPixelClockKHz: 600000, MaxTMDSKHz: 600000, MaxWidth: 3840, MaxHeight: 2160}
	c, err := mode.Choose(e, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c.YCbCr420 || c.Mode.YCbCr420Only || c.Mode.Hz > 31 {
		t.Errorf("without 4:2:0 chose %v (4:2:0 %v): %s", c.Mode, c.YCbCr420, c.Reason)
	}
	cfg.YCbCr420 = true
	c, err = mode.Choose(e, cfg)
	check(t, c, err, want{w: 3840, h: 2160, hz: 60, ycbcr420: true, reason: "sent as YCbCr 4:2:0"})
	if c.TMDSKHz != 297000 {
		t.Errorf("TMDS %d kHz, want 297000", c.TMDSKHz)
	}
	// A 4:2:0-only preferred mode is refused with the reason.
	p := edid.Mode{Timing: only[0].Timing, Preferred: true, YCbCr420Only: true, Source: edid.SourceVIC, VIC: 97}
	e3 := &edid.EDID{CTA: []*edid.CTA{{VICs: []int{16}, YCbCr420Only: []int{97}}}}
	e3.DTDs = []edid.Mode{p}
	c, err = mode.Choose(e3, mode.Default)
	check(t, c, err, want{w: 1920, h: 1080, hz: 60, reason: "only in YCbCr 4:2:0"})
}

// No DTD at all: the first VIC is the preferred mode (CTA-861 orders SVDs
// by preference).
func TestNoDTD(t *testing.T) {
	e := &edid.EDID{CTA: []*edid.CTA{{VICs: []int{4, 16, 31}}}}
	c, err := mode.Choose(e, mode.Default)
	check(t, c, err, want{w: 1280, h: 720, hz: 60, preferred: true, reason: "VIC 4"})
	// Nothing at all.
	_, err = mode.Choose(&edid.EDID{}, mode.Default)
	if !errors.Is(err, mode.ErrNoMode) {
		t.Errorf("empty EDID: %v, want ErrNoMode", err)
	}
	if _, err := mode.Choose(nil, mode.Default); err == nil {
		t.Error("nil EDID: no error")
	}
}

// Base block only: a 1280x1024 monitor of 2006. The framebuffer limit of
// 1024x768 leaves the established and standard timings; the best is
// 1024x768 at 75 Hz.
func TestBaseBlockOnly(t *testing.T) {
	e := load(t, "old_dell_1907fp_dvi_1280x1024.bin")
	if len(e.Extensions) != 0 {
		t.Fatalf("%d extensions", len(e.Extensions))
	}
	c, err := mode.Choose(e, mode.Default)
	check(t, c, err, want{w: 1280, h: 1024, hz: 60, preferred: true, reason: "preferred"})
	c, err = mode.Choose(e, mode.Config{MaxWidth: 1024, MaxHeight: 768})
	check(t, c, err, want{w: 1024, h: 768, hz: 75, reason: "larger than the framebuffer's 1024x768"})
	// A refresh cap.
	c, err = mode.Choose(e, mode.Config{MaxWidth: 1024, MaxHeight: 768, MaxHz: 60})
	check(t, c, err, want{w: 1024, h: 768, hz: 60, reason: "best of"})
}

// No preferred mode (EDID 1.3 with the preferred-timing bit clear): the
// Apple Cinema HD lists 1280x800 then 2560x1600; the larger is chosen.
func TestNoPreferred(t *testing.T) {
	e := load(t, "mon_apple_cinema_hd_di_ext.bin")
	if _, ok := e.Preferred(); ok {
		t.Fatal("Preferred: ok")
	}
	c, err := mode.Choose(e, mode.Default)
	check(t, c, err, want{w: 2560, h: 1600, hz: 60, reason: "names no preferred mode"})
}

// Every real display of the corpus gets a mode from a 1080p HDMI 1.4
// output and from the default, and the mode is one the display lists.
func TestCorpusAlwaysChooses(t *testing.T) {
	for _, path := range edidtest.Files(t) {
		if edidtest.Damaged(path) {
			continue
		}
		e := load(t, filepath.Base(path))
		for _, cfg := range []mode.Config{mode.Default, {MaxPixelClockKHz: 165000, MaxTMDSKHz: 165000, MaxWidth: 1920, MaxHeight: 1080}} {
			c, err := mode.Choose(e, cfg)
			if errors.Is(err, mode.ErrNoMode) {
				// Only right when no mode is within the size and clock
				// (the Valve Index: 686 MHz and up; the Retina panel:
				// 2880x1800 only).
				for _, m := range e.Modes() {
					if (cfg.MaxWidth == 0 || m.W <= cfg.MaxWidth && m.H <= cfg.MaxHeight) && m.PixelClockKHz <= cfg.MaxPixelClockKHz && !m.Interlaced && !m.YCbCr420Only {
						t.Errorf("%s: %v, but %v fits", filepath.Base(path), err, m)
					}
				}
				continue
			}
			if err != nil {
				t.Errorf("%s: %v", filepath.Base(path), err)
				continue
			}
			if cfg.MaxWidth > 0 && (c.Mode.W > cfg.MaxWidth || c.Mode.H > cfg.MaxHeight) || c.Mode.PixelClockKHz > cfg.MaxPixelClockKHz {
				t.Errorf("%s: chose %v past %+v", filepath.Base(path), c.Mode, cfg)
			}
		}
	}
}

func TestLogOneLine(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	c, err := mode.Choose(load(t, "tv_sony_1080i50_2005.bin"), mode.Default)
	if err != nil {
		t.Fatal(err)
	}
	c.Log(context.Background(), log)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d log lines", len(lines))
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["w"] != 1280.0 || rec["h"] != 720.0 || rec["reason"] != c.Reason || !strings.Contains(c.Reason, "interlaced") {
		t.Errorf("log line %s", lines[0])
	}
}

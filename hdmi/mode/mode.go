// Package mode picks the video mode the box drives a display at: the
// display's preferred mode when the box's output and framebuffer can drive
// it, otherwise the best mode both support, and says why in one line.
package mode

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"

	"oepc.dev/oepcos/hdmi/edid"
)

// Config is what the box's output and framebuffer can drive.
type Config struct {
	// MaxPixelClockKHz: the highest pixel clock the output (CRTC and
	// encoder) drives; 0: no limit.
	MaxPixelClockKHz int
	// MaxTMDSKHz: the highest TMDS character rate of the HDMI transmitter
	// (165000 for HDMI 1.2 parts, 340000 for HDMI 1.4, 600000 for HDMI
	// 2.0); 0: no separate limit.
	MaxTMDSKHz int
	// MaxWidth, MaxHeight: the largest framebuffer; 0: no limit.
	MaxWidth, MaxHeight int
	// MaxHz: the highest refresh wanted; 0: no limit. A status screen has
	// no use for 144 Hz, and a lower rate saves power and bandwidth.
	MaxHz float64
	// Interlaced: the output can drive interlaced modes.
	Interlaced bool
	// YCbCr420: the output can send YCbCr 4:2:0 (needed for modes the
	// display takes only in 4:2:0).
	YCbCr420 bool
}

// Default is a conservative HDMI 2.0 output: 600 MHz, 4096×2160, no
// interlace, no 4:2:0.
var Default = Config{MaxPixelClockKHz: 600000, MaxTMDSKHz: 600000, MaxWidth: 4096, MaxHeight: 2160}

// Choice is the mode picked and why.
type Choice struct {
	Mode edid.Mode
	// Preferred: Mode is the display's preferred mode.
	Preferred bool
	// YCbCr420: the mode must be sent as YCbCr 4:2:0.
	YCbCr420 bool
	// TMDSKHz: the TMDS character rate of the mode as sent (8 bits per
	// colour).
	TMDSKHz int
	// Reason says why, in one line.
	Reason string
}

// ErrNoMode: no mode of the display fits the box.
var ErrNoMode = errors.New("mode: no mode of the display fits the output")

// Choose picks the mode for a display. It fails only when the EDID lists
// no mode the box can drive.
func Choose(e *edid.EDID, cfg Config) (Choice, error) {
	if e == nil {
		return Choice{}, errors.New("mode: no EDID")
	}
	sinkTMDS := e.MaxTMDSKHz()
	if sinkTMDS == 0 && e.IsHDMI() {
		sinkTMDS = 165000 // HDMI 1.x without a max TMDS clock field
	}
	pref, hasPref := e.Preferred()
	var prefWhy string
	if hasPref {
		c, why := fits(pref, cfg, sinkTMDS)
		if why == "" {
			c.Preferred = true
			c.Reason = fmt.Sprintf("preferred mode: %s (within the output's and the display's limits)", desc(c))
			return c, nil
		}
		prefWhy = fmt.Sprintf("preferred mode %s not used: %s", pref, why)
	} else {
		prefWhy = "the display names no preferred mode"
	}
	var cands []Choice
	rejected := 0
	for _, m := range e.Modes() {
		if c, why := fits(m, cfg, sinkTMDS); why == "" {
			cands = append(cands, c)
		} else {
			rejected++
		}
	}
	if len(cands) == 0 {
		return Choice{Reason: prefWhy + fmt.Sprintf("; none of %d modes fits", rejected)}, fmt.Errorf("%w (%s; %d modes rejected)", ErrNoMode, prefWhy, rejected)
	}
	slices.SortStableFunc(cands, better)
	c := cands[0]
	c.Reason = fmt.Sprintf("%s; best of %d modes that fit: %s", prefWhy, len(cands), desc(c))
	return c, nil
}

// better orders choices best first: larger resolution, then higher frame
// rate (an interlaced mode's frame rate is half its field rate, so 1080i60
// ties with 1080p30), then progressive, then RGB over 4:2:0, then the
// display's native flag, then a lower pixel clock.
func better(a, b Choice) int {
	if c := cmp.Compare(b.Mode.W*b.Mode.H, a.Mode.W*a.Mode.H); c != 0 {
		return c
	}
	if c := cmp.Compare(math.Round(frameRate(b.Mode)), math.Round(frameRate(a.Mode))); c != 0 {
		return c
	}
	if a.Mode.Interlaced != b.Mode.Interlaced {
		return boolCmp(a.Mode.Interlaced, b.Mode.Interlaced)
	}
	if a.YCbCr420 != b.YCbCr420 {
		return boolCmp(a.YCbCr420, b.YCbCr420)
	}
	if a.Mode.Native != b.Mode.Native {
		return boolCmp(b.Mode.Native, a.Mode.Native)
	}
	if c := cmp.Compare(math.Round(b.Mode.Hz*100), math.Round(a.Mode.Hz*100)); c != 0 {
		return c // 60 over 59.94
	}
	return cmp.Compare(a.Mode.PixelClockKHz, b.Mode.PixelClockKHz)
}

// boolCmp: false sorts first.
func boolCmp(a, b bool) int {
	if a == b {
		return 0
	}
	if a {
		return 1
	}
	return -1
}

func frameRate(m edid.Mode) float64 {
	if m.Interlaced {
		return m.Hz / 2
	}
	return m.Hz
}

// fits says why the box cannot drive m ("" when it can).
func fits(m edid.Mode, cfg Config, sinkTMDS int) (Choice, string) {
	c := Choice{Mode: m, TMDSKHz: m.PixelClockKHz}
	if m.YCbCr420Only {
		if !cfg.YCbCr420 {
			return c, "the display takes it only in YCbCr 4:2:0, the output sends no 4:2:0"
		}
		c.YCbCr420 = true
		c.TMDSKHz = m.PixelClockKHz / 2
	}
	switch {
	case m.Interlaced && !cfg.Interlaced:
		return c, "interlaced, the output drives progressive only"
	case cfg.MaxWidth > 0 && m.W > cfg.MaxWidth, cfg.MaxHeight > 0 && m.H > cfg.MaxHeight:
		return c, fmt.Sprintf("%dx%d is larger than the framebuffer's %dx%d", m.W, m.H, cfg.MaxWidth, cfg.MaxHeight)
	case cfg.MaxPixelClockKHz > 0 && m.PixelClockKHz > cfg.MaxPixelClockKHz:
		return c, fmt.Sprintf("pixel clock %.2f MHz is above the output's %.2f MHz", mhz(m.PixelClockKHz), mhz(cfg.MaxPixelClockKHz))
	}
	if cfg.MaxTMDSKHz > 0 && c.TMDSKHz > cfg.MaxTMDSKHz {
		// A 4:2:0-capable mode may still fit when sent as 4:2:0.
		if m.YCbCr420Also && cfg.YCbCr420 && m.PixelClockKHz/2 <= cfg.MaxTMDSKHz && (sinkTMDS == 0 || m.PixelClockKHz/2 <= sinkTMDS) {
			c.YCbCr420, c.TMDSKHz = true, m.PixelClockKHz/2
		} else {
			return c, fmt.Sprintf("TMDS rate %.2f MHz is above the output's %.2f MHz", mhz(c.TMDSKHz), mhz(cfg.MaxTMDSKHz))
		}
	}
	if sinkTMDS > 0 && c.TMDSKHz > sinkTMDS {
		if m.YCbCr420Also && cfg.YCbCr420 && m.PixelClockKHz/2 <= sinkTMDS {
			c.YCbCr420, c.TMDSKHz = true, m.PixelClockKHz/2
		} else {
			return c, fmt.Sprintf("TMDS rate %.2f MHz is above the display's %.2f MHz", mhz(c.TMDSKHz), mhz(sinkTMDS))
		}
	}
	if cfg.MaxHz > 0 && m.Hz > cfg.MaxHz+0.5 {
		return c, fmt.Sprintf("%s Hz is above the %g Hz wanted", fmtHz(m.Hz), cfg.MaxHz)
	}
	return c, ""
}

func mhz(khz int) float64 { return float64(khz) / 1000 }

func fmtHz(hz float64) string { return fmt.Sprintf("%.2f", hz) }

func desc(c Choice) string {
	s := fmt.Sprintf("%s from %s", c.Mode, c.Mode.Source)
	if c.Mode.VIC != 0 {
		s += fmt.Sprintf(" (VIC %d)", c.Mode.VIC)
	}
	if c.YCbCr420 {
		s += ", sent as YCbCr 4:2:0"
	}
	return s
}

// Log writes the choice as one slog line.
func (c Choice) Log(ctx context.Context, log *slog.Logger) {
	m := c.Mode
	log.LogAttrs(ctx, slog.LevelInfo, "video mode chosen",
		slog.Int("w", m.W), slog.Int("h", m.H), slog.Float64("hz", math.Round(m.Hz*1000)/1000),
		slog.Bool("interlaced", m.Interlaced), slog.Int("pixel_clock_khz", m.PixelClockKHz),
		slog.Bool("preferred", c.Preferred), slog.Bool("ycbcr420", c.YCbCr420),
		slog.String("source", string(m.Source)), slog.String("reason", c.Reason))
}

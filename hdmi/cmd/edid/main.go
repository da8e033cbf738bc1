// Command edid decodes an EDID file and shows the mode the box would pick.
//
//	edid FILE [--json] [--max-pixel-clock-khz N] [--max-tmds-khz N]
//	     [--max-width W] [--max-height H] [--interlaced] [--ycbcr420]
//
// Human-readable by default; with --json one JSON object (manufacturer,
// product_code, serial, year, name, checksum_ok, extension_blocks,
// preferred, vics, chosen, error, warnings). It exits 1 exactly when the
// file cannot be used (the JSON's error is set), 2 on bad usage.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"oepc.dev/oepcos/hdmi/edid"
	"oepc.dev/oepcos/hdmi/mode"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

type jsonMode struct {
	W             int     `json:"w"`
	H             int     `json:"h"`
	Hz            float64 `json:"hz"`
	PixelClockKHz int     `json:"pixel_clock_khz"`
	Interlaced    bool    `json:"interlaced"`
	Source        string  `json:"source,omitempty"`
	VIC           int     `json:"vic,omitempty"`
	YCbCr420      bool    `json:"ycbcr420,omitempty"`
	Reason        string  `json:"reason,omitempty"`
}

type output struct {
	File            string    `json:"file"`
	Manufacturer    *string   `json:"manufacturer"`
	ProductCode     *int      `json:"product_code"`
	Serial          *uint32   `json:"serial"`
	SerialString    *string   `json:"serial_string"`
	Week            *int      `json:"week"`
	Year            *int      `json:"year"`
	ModelYear       bool      `json:"model_year"`
	Version         string    `json:"version,omitempty"`
	Name            *string   `json:"name"`
	ChecksumOK      bool      `json:"checksum_ok"`
	ExtensionBlocks int       `json:"extension_blocks"`
	Preferred       *jsonMode `json:"preferred"`
	VICs            []int     `json:"vics"`
	Chosen          *jsonMode `json:"chosen"`
	ChosenError     *string   `json:"chosen_error,omitempty"`
	Warnings        []string  `json:"warnings"`
	Error           *string   `json:"error"`
}

func toJSON(m edid.Mode) *jsonMode {
	return &jsonMode{W: m.W, H: m.H, Hz: float64(int64(m.Hz*1e6+0.5)) / 1e6, PixelClockKHz: m.PixelClockKHz,
		Interlaced: m.Interlaced, Source: string(m.Source), VIC: m.VIC}
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("edid", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print one JSON object")
	cfg := mode.Default
	fs.IntVar(&cfg.MaxPixelClockKHz, "max-pixel-clock-khz", cfg.MaxPixelClockKHz, "the output's highest pixel clock (kHz, 0: no limit)")
	fs.IntVar(&cfg.MaxTMDSKHz, "max-tmds-khz", cfg.MaxTMDSKHz, "the output's highest TMDS character rate (kHz, 0: no limit)")
	fs.IntVar(&cfg.MaxWidth, "max-width", cfg.MaxWidth, "the framebuffer's largest width")
	fs.IntVar(&cfg.MaxHeight, "max-height", cfg.MaxHeight, "the framebuffer's largest height")
	fs.BoolVar(&cfg.Interlaced, "interlaced", cfg.Interlaced, "the output can drive interlaced modes")
	fs.BoolVar(&cfg.YCbCr420, "ycbcr420", cfg.YCbCr420, "the output can send YCbCr 4:2:0")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: edid FILE [--json] [flags]")
		fs.PrintDefaults()
	}
	// The file may come before or after the flags.
	var file string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		if file != "" {
			fs.Usage()
			return 2
		}
		file, rest = fs.Arg(0), fs.Args()[1:]
	}
	if file == "" {
		fs.Usage()
		return 2
	}

	out := output{File: file, Warnings: []string{}, VICs: []int{}}
	fail := func(err error) {
		s := err.Error()
		out.Error = &s
	}
	var e *edid.EDID
	b, err := os.ReadFile(file)
	if err != nil {
		fail(err)
	} else {
		e, err = edid.Parse(b)
		if err != nil {
			if errors.Is(err, edid.ErrExtensionCount) || errors.Is(err, edid.ErrTruncated) {
				err = fmt.Errorf("%w (the extension blocks are missing: re-read the EDID; the base block alone is valid)", err)
			}
			fail(err)
		}
	}
	if e != nil {
		fill(&out, e, cfg)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			fmt.Fprintln(stderr, "edid:", err)
			return 1
		}
	} else {
		human(stdout, &out, e)
	}
	if out.Error != nil {
		if !*asJSON {
			fmt.Fprintf(stderr, "edid: %s: %s\n", file, *out.Error)
		}
		return 1
	}
	return 0
}

func fill(out *output, e *edid.EDID, cfg mode.Config) {
	out.Manufacturer = &e.Manufacturer
	pc := int(e.ProductCode)
	out.ProductCode = &pc
	out.Serial = &e.Serial
	if e.SerialString != "" {
		out.SerialString = &e.SerialString
	}
	if e.Week != 0 {
		out.Week = &e.Week
	}
	out.Year = &e.Year
	out.ModelYear = e.ModelYear
	out.Version = fmt.Sprintf("%d.%d", e.Version, e.Revision)
	if e.Name != "" {
		out.Name = &e.Name
	}
	out.ChecksumOK = e.ChecksumOK
	out.ExtensionBlocks = e.ExtensionCount
	if p, ok := e.Preferred(); ok {
		out.Preferred = toJSON(p)
	}
	out.VICs = append(out.VICs, e.VICs()...)
	out.Warnings = append(out.Warnings, e.Warnings...)
	if c, err := mode.Choose(e, cfg); err == nil {
		out.Chosen = toJSON(c.Mode)
		out.Chosen.YCbCr420 = c.YCbCr420
		out.Chosen.Reason = c.Reason
	} else {
		// The EDID is fine; the box just cannot drive any of its modes.
		s := err.Error()
		out.ChosenError = &s
	}
}

func human(w io.Writer, out *output, e *edid.EDID) {
	if e == nil {
		return
	}
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	p("EDID %d.%d, %d extension block(s), checksums %s", e.Version, e.Revision, e.ExtensionCount, map[bool]string{true: "ok", false: "BAD"}[e.ChecksumOK])
	p("Manufacturer:  %s  product 0x%04x (%d)  serial %d", e.Manufacturer, e.ProductCode, e.ProductCode, e.Serial)
	if e.ModelYear {
		p("Model year:    %d", e.Year)
	} else if e.Week != 0 {
		p("Made:          week %d of %d", e.Week, e.Year)
	} else {
		p("Made:          %d", e.Year)
	}
	if e.Name != "" {
		p("Name:          %s", e.Name)
	}
	if e.SerialString != "" {
		p("Serial:        %s", e.SerialString)
	}
	in := "analog"
	if e.Digital {
		in = "digital"
		if e.Interface != "" {
			in += ", " + e.Interface
		}
		if e.BitDepth != 0 {
			in += fmt.Sprintf(", %d bits per colour", e.BitDepth)
		}
	}
	p("Input:         %s", in)
	if e.WidthCM != 0 {
		p("Screen:        %d cm x %d cm", e.WidthCM, e.HeightCM)
	}
	if e.Gamma != 0 {
		p("Gamma:         %.2f", e.Gamma)
	}
	if r := e.RangeLimits; r != nil {
		p("Range limits:  %d-%d Hz V, %d-%d kHz H, max %d MHz", r.MinVHz, r.MaxVHz, r.MinHKHz, r.MaxHKHz, r.MaxPixelClockKHz/1000)
	}
	for _, c := range e.CTA {
		p("CTA-861 block %d (revision %d): VICs %v", c.Block, c.Revision, c.VICs)
		if c.HDMI != nil {
			p("  HDMI VSDB: physical address %s, max TMDS %s", c.HDMI.PhysicalAddress, mhzOrNone(c.HDMI.MaxTMDSKHz))
		}
		if c.HDMIForum != nil {
			p("  HDMI Forum VSDB: max TMDS character rate %d MHz", c.HDMIForum.MaxTMDSCharacterRateKHz/1000)
		}
		if len(c.YCbCr420Only) > 0 {
			p("  YCbCr 4:2:0 only: VICs %v", c.YCbCr420Only)
		}
		if len(c.YCbCr420Also) > 0 {
			p("  also YCbCr 4:2:0: VICs %v", c.YCbCr420Also)
		}
	}
	for _, d := range e.DisplayID {
		p("DisplayID block %d (version %d.%d): %d timing(s)", d.Block, d.Version>>4, d.Version&0xf, len(d.Timings))
	}
	if pr := out.Preferred; pr != nil {
		p("Preferred:     %dx%d%s %.3f Hz, %.3f MHz", pr.W, pr.H, map[bool]string{true: "i", false: ""}[pr.Interlaced], pr.Hz, float64(pr.PixelClockKHz)/1000)
	} else {
		p("Preferred:     none")
	}
	p("Modes:")
	for _, m := range e.Modes() {
		var tags []string
		if m.VIC != 0 {
			tags = append(tags, fmt.Sprintf("VIC %d", m.VIC))
		}
		if m.Preferred {
			tags = append(tags, "preferred")
		}
		if m.Native {
			tags = append(tags, "native")
		}
		if m.YCbCr420Only {
			tags = append(tags, "4:2:0 only")
		}
		p("  %-34s %-11s %s", m.String(), m.Source, strings.Join(tags, ", "))
	}
	for _, s := range out.Warnings {
		p("Warning:       %s", s)
	}
	if c := out.Chosen; c != nil {
		p("Chosen:        %s", c.Reason)
	} else if out.ChosenError != nil {
		p("Chosen:        none: %s", *out.ChosenError)
	}
}

func mhzOrNone(khz int) string {
	if khz == 0 {
		return "not given"
	}
	return fmt.Sprintf("%d MHz", khz/1000)
}

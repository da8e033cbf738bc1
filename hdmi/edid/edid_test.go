package edid_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"oepc.dev/oepcos/hdmi/edid"
	"oepc.dev/oepcos/hdmi/edid/edidtest"
)

func read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(edidtest.CorpusDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fix recomputes the checksum of every block.
func fix(b []byte) []byte {
	for i := 0; i+edid.BlockSize <= len(b); i += edid.BlockSize {
		var s byte
		for _, c := range b[i : i+edid.BlockSize-1] {
			s += c
		}
		b[i+edid.BlockSize-1] = -s
	}
	return b
}

func TestVICTable(t *testing.T) {
	for vic := 1; vic <= 219; vic++ {
		_, ok := edid.VIC(vic)
		if want := vic <= 127 || vic >= 193; ok != want {
			t.Errorf("VIC %d: ok %v, want %v", vic, ok, want)
		}
	}
	for _, c := range []struct {
		vic, w, h, clk int
		hz             float64
		i              bool
	}{
		{1, 640, 480, 25175, 59.940476, false},
		{5, 1920, 1080, 74250, 60, true},
		{16, 1920, 1080, 148500, 60, false},
		{20, 1920, 1080, 74250, 50, true},
		{97, 3840, 2160, 594000, 60, false},
		{127, 5120, 2160, 1485000, 100, false},
		{219, 4096, 2160, 1188000, 120, false},
	} {
		tm, _ := edid.VIC(c.vic)
		if tm.W != c.w || tm.H != c.h || tm.PixelClockKHz != c.clk || tm.Hz != c.hz || tm.Interlaced != c.i {
			t.Errorf("VIC %d: %+v", c.vic, tm)
		}
	}
	if _, ok := edid.VIC(128); ok {
		t.Error("VIC 128 exists")
	}
	if tm, ok := edid.HDMIVIC(1); !ok || tm.W != 3840 || tm.Hz != 30 {
		t.Errorf("HDMI VIC 1: %+v", tm)
	}
	if tm, ok := edid.DMT(0x52); !ok || tm.W != 1920 || tm.PixelClockKHz != 148500 {
		t.Errorf("DMT 0x52: %+v", tm)
	}
}

// An HF-EEODB EDID: the base block says 1 extension, the HF-EEODB 3; all
// four blocks are read. Without the HF-EEODB the count would stop at 1.
func TestHFEEODB(t *testing.T) {
	b := read(t, "tv_samsung_qcq90_hf_eeodb_2023.bin")
	if b[126] != 1 || len(b) != 512 {
		t.Fatalf("fixture changed: count %d, %d bytes", b[126], len(b))
	}
	e, err := edid.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if e.ExtensionCount != 3 || len(e.Extensions) != 3 || len(e.CTA) != 2 || len(e.DisplayID) != 1 {
		t.Fatalf("count %d, %d extensions, %d CTA, %d DisplayID", e.ExtensionCount, len(e.Extensions), len(e.CTA), len(e.DisplayID))
	}
	c := e.CTA[0]
	if c.EEODBCount != 3 || c.HDMI == nil || c.HDMI.MaxTMDSKHz != 340000 || c.HDMIForum == nil || c.HDMIForum.MaxTMDSCharacterRateKHz != 600000 {
		t.Errorf("CTA block: %+v", c)
	}
	if !slices.Equal(c.HDMIVICs, []int{1, 2, 3, 4}) || c.HDMI.PhysicalAddress != "3.0.0.0" {
		t.Errorf("HDMI VICs %v, address %s", c.HDMIVICs, c.HDMI.PhysicalAddress)
	}
	// The capability map names the first eight SVDs (edid-decode lists
	// VICs 97 96 101 102 117 118 218 219).
	if !slices.Equal(c.YCbCr420Also, []int{97, 96, 101, 102, 117, 118, 218, 219}) {
		t.Errorf("4:2:0 capability map %v", c.YCbCr420Also)
	}
	if len(c.Audio) != 5 || c.Audio[0].Format != 1 || c.Audio[0].Channels != 6 || !slices.Contains(c.Audio[0].SampleRates, 192000) {
		t.Errorf("audio %+v", c.Audio)
	}
	if c.Speakers&0x0f != 0x0f {
		t.Errorf("speakers 0x%x", c.Speakers)
	}
	if e.MaxTMDSKHz() != 600000 {
		t.Errorf("MaxTMDSKHz %d", e.MaxTMDSKHz())
	}
	// Cut to the base count (256 bytes): the HF-EEODB still says 3.
	_, err = edid.Parse(b[:256])
	if !errors.Is(err, edid.ErrExtensionCount) {
		t.Errorf("256 bytes of an HF-EEODB EDID: %v", err)
	}
}

func TestErrorsOnCraftedInput(t *testing.T) {
	good := read(t, "tv_samsung_1080p_2013.bin")
	cases := []struct {
		name     string
		b        []byte
		err      error
		withEDID bool
	}{
		{"empty", nil, edid.ErrTruncated, false},
		{"7 bytes", good[:7], edid.ErrTruncated, false},
		{"127 bytes", good[:127], edid.ErrTruncated, false},
		{"cut in the extension", good[:200], edid.ErrTruncated, true},
		{"count 2, one extension", fix(append([]byte(nil), good...)), nil, true},
	}
	cases[4].b[126] = 2
	cases[4].b = fix(cases[4].b)
	cases[4].err = edid.ErrExtensionCount
	for _, c := range cases {
		e, err := edid.Parse(c.b)
		if !errors.Is(err, c.err) || (e != nil) != c.withEDID {
			t.Errorf("%s: %v (EDID %v), want %v (EDID %v)", c.name, err, e != nil, c.err, c.withEDID)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "edid: block ") {
			t.Errorf("%s: error %q does not name the block", c.name, err)
		}
	}
	// Extra blocks past the count: ignored with a warning.
	extra := append(append([]byte(nil), good...), good[128:]...)
	e, err := edid.Parse(extra)
	if err != nil || len(e.Extensions) != 1 || len(e.Warnings) != 1 {
		t.Errorf("an extra block: %v, %d extensions, warnings %v", err, len(e.Extensions), e.Warnings)
	}
}

// The Vizio's CTA block has a bad checksum: the base block is used, the
// block is skipped, and a warning says so.
func TestBrokenExtensionWarns(t *testing.T) {
	e, err := edid.Parse(read(t, "tv_vizio_m550nv_bad_cta_checksum_2010.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if e.ChecksumOK || len(e.CTA) != 0 || len(e.Extensions) != 1 || e.Extensions[0].ChecksumOK {
		t.Errorf("checksum ok %v, %d CTA", e.ChecksumOK, len(e.CTA))
	}
	if len(e.Warnings) != 1 || !strings.Contains(e.Warnings[0], "bad checksum") || !strings.Contains(e.Warnings[0], "base block used") {
		t.Errorf("warnings %q", e.Warnings)
	}
	if p, ok := e.Preferred(); !ok || p.W != 1920 || p.H != 1080 {
		t.Errorf("preferred %v %v", p, ok)
	}
}

func TestBaseBlockFields(t *testing.T) {
	e, err := edid.Parse(read(t, "tv_samsung_qcq90_hf_eeodb_2023.bin"))
	if err != nil {
		t.Fatal(err)
	}
	// edid-decode: 165 cm x 93 cm, gamma 2.20, red 0.6699, 0.3115, white
	// 0.3125, 0.3291, range 24-120 Hz V, 15-255 kHz H, 1190 MHz.
	if e.WidthCM != 165 || e.HeightCM != 93 || e.Gamma != 2.2 || !e.Digital {
		t.Errorf("size %dx%d gamma %v digital %v", e.WidthCM, e.HeightCM, e.Gamma, e.Digital)
	}
	near := func(a, b float64) bool { return a-b < 0.0001 && b-a < 0.0001 }
	if !near(e.Red.X, 0.6699) || !near(e.Red.Y, 0.3115) || !near(e.White.X, 0.3125) || !near(e.White.Y, 0.3291) {
		t.Errorf("chromaticity %+v %+v", e.Red, e.White)
	}
	r := e.RangeLimits
	if r == nil || r.MinVHz != 24 || r.MaxVHz != 120 || r.MinHKHz != 15 || r.MaxHKHz != 255 || r.MaxPixelClockKHz != 1190000 {
		t.Errorf("range %+v", r)
	}
	if len(e.Established) != 14 || len(e.Standard) != 8 {
		t.Errorf("%d established, %d standard", len(e.Established), len(e.Standard))
	}
	// EDID 1.0 and analog input.
	e, err = edid.Parse(read(t, "panel_samsung_edid10.bin"))
	if err != nil || e.Version != 1 || e.Revision != 0 {
		t.Fatalf("1.0: %v %+v", err, e)
	}
	e, err = edid.Parse(read(t, "old_ibm_c170_crt_1024x768at85.bin"))
	if err != nil || e.Digital || e.AnalogLevel == "" {
		t.Errorf("analog CRT: %v digital %v level %q", err, e.Digital, e.AnalogLevel)
	}
	// DisplayID-only timings (Valve Index): the preferred comes from
	// DisplayID type I.
	e, err = edid.Parse(read(t, "hmd_valve_index_displayid_only.bin"))
	if err != nil {
		t.Fatal(err)
	}
	p, ok := e.Preferred()
	if !ok || p.Source != edid.SourceDisplayID || p.W != 2880 || p.H != 1600 || p.PixelClockKHz != 686000 {
		t.Errorf("Valve Index preferred %+v", p)
	}
}

// BenchmarkParse parses every real EDID of the corpus, and beside it, in
// the same loop, reads the same bytes once (a sum, the baseline), so that
// the load of a shared machine hits both alike. Metrics: ns/EDID for the
// parse, baseline-ns/EDID, and parse/baseline, the ratio to compare across
// runs.
func BenchmarkParse(b *testing.B) {
	files := corpus(b)
	b.ReportAllocs()
	var parse, base time.Duration
	n := 0
	var sink byte
	for b.Loop() {
		t0 := time.Now()
		for _, f := range files {
			if _, err := edid.Parse(f); err != nil {
				b.Fatal(err)
			}
		}
		t1 := time.Now()
		for _, f := range files {
			for _, c := range f {
				sink += c
			}
		}
		parse += t1.Sub(t0)
		base += time.Since(t1)
		n += len(files)
	}
	_ = sink
	b.ReportMetric(float64(parse.Nanoseconds())/float64(n), "ns/EDID")
	b.ReportMetric(float64(base.Nanoseconds())/float64(n), "baseline-ns/EDID")
	b.ReportMetric(float64(parse)/float64(base), "parse/baseline")
}

// BenchmarkParseAndModes: parse plus the deduplicated mode list (what
// mode.Choose walks).
func BenchmarkParseAndModes(b *testing.B) {
	files := corpus(b)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for _, f := range files {
			e, _ := edid.Parse(f)
			_ = e.Modes()
			n++
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/EDID")
}

func corpus(b *testing.B) [][]byte {
	var files [][]byte
	for _, p := range edidtest.Files(b) {
		if edidtest.Damaged(p) {
			continue
		}
		d, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		files = append(files, d)
	}
	return files
}

// A DisplayID 1.2 block with a product ID and a type I timing, built by
// hand (no display of the corpus has a product ID block).
func TestDisplayIDProductID(t *testing.T) {
	b := append([]byte(nil), read(t, "old_dell_1907fp_dvi_1280x1024.bin")...)
	b[126] = 1
	blk := make([]byte, 128)
	blk[0] = 0x70
	blk[1] = 0x12 // version 1.2
	blk[3] = 0    // product type
	var data []byte
	pid := []byte{'A', 'B', 'C', 0x34, 0x12, 0x78, 0x56, 0x34, 0x12, 5, 23, 4, 'T', 'e', 's', 't'}
	data = append(data, 0x00, 0, byte(len(pid)))
	data = append(data, pid...)
	le := func(v int) []byte { return []byte{byte(v), byte(v >> 8)} }
	clk := 14849 // 148.5 MHz in 10 kHz units, minus 1
	tm := []byte{byte(clk), byte(clk >> 8), 0, 0x80 | 0x03}
	tm = append(tm, le(1919)...)
	tm = append(tm, le(279)...)
	tm = append(tm, le(87|0x8000)...)
	tm = append(tm, le(43)...)
	tm = append(tm, le(1079)...)
	tm = append(tm, le(44)...)
	tm = append(tm, le(3|0x8000)...)
	tm = append(tm, le(4)...)
	data = append(data, 0x03, 0, byte(len(tm)))
	data = append(data, tm...)
	blk[2] = byte(len(data))
	copy(blk[5:], data)
	var s byte
	for _, c := range blk[1 : 5+len(data)] {
		s += c
	}
	blk[5+len(data)] = -s // section checksum
	b = fix(append(b, blk...))
	e, err := edid.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(e.DisplayID) != 1 || len(e.Warnings) != 0 {
		t.Fatalf("%d DisplayID blocks, warnings %v", len(e.DisplayID), e.Warnings)
	}
	d := e.DisplayID[0]
	if d.Manufacturer != "ABC" || d.ProductCode != 0x1234 || d.Serial != 0x12345678 || d.Week != 5 || d.Year != 2023 || d.ProductName != "Test" {
		t.Errorf("product ID %+v", d)
	}
	if len(d.Timings) != 1 {
		t.Fatalf("%d timings", len(d.Timings))
	}
	m := d.Timings[0]
	if m.W != 1920 || m.H != 1080 || m.PixelClockKHz != 148500 || m.Hz != 60 || !m.Preferred || !m.HSyncPositive || !m.VSyncPositive || m.HFront != 88 || m.HSync != 44 || m.HBack != 148 || m.VFront != 4 || m.VSync != 5 || m.VBack != 36 {
		t.Errorf("timing %+v", m)
	}
	// The base block's DTD stays the preferred mode.
	if p, _ := e.Preferred(); p.Source != edid.SourceDTD || p.W != 1280 {
		t.Errorf("preferred %+v", p)
	}
}

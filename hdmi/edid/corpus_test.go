package edid_test

import (
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"oepc.dev/oepcos/hdmi/edid"
	"oepc.dev/oepcos/hdmi/edid/edidtest"
)

// expectedName joins the name descriptors as the parser does: a descriptor
// of 13 characters (no terminator) is continued by the next one.
func expectedName(names []string) string {
	var b strings.Builder
	for i, n := range names {
		if i > 0 && len(names[i-1]) < 13 {
			b.WriteByte(' ')
		}
		b.WriteString(n)
	}
	return strings.TrimSpace(b.String())
}

func sameTiming(m edid.Mode, r edidtest.Timing) bool {
	return m.W == r.W && m.H == r.H && m.Interlaced == r.Interlaced &&
		math.Abs(m.Hz-r.Hz) < 0.0005 && m.PixelClockKHz == r.PixelClockKHz
}

// TestCorpusAgainstEdidDecode checks every real EDID of the corpus against
// Debian's edid-decode run on the same file.
func TestCorpusAgainstEdidDecode(t *testing.T) {
	edidtest.EdidDecode(t)
	real := 0
	for _, path := range edidtest.Files(t) {
		if edidtest.Damaged(path) {
			continue
		}
		real++
		t.Run(filepath.Base(path), func(t *testing.T) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			ref := edidtest.Decode(t, path)
			if ref.Failed != "" {
				t.Fatalf("edid-decode refused a real EDID: %s", ref.Failed)
			}
			e, err := edid.Parse(b)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if e.Manufacturer != ref.Manufacturer {
				t.Errorf("manufacturer %q, edid-decode %q", e.Manufacturer, ref.Manufacturer)
			}
			if int(e.ProductCode) != ref.Model {
				t.Errorf("product code %d, edid-decode %d", e.ProductCode, ref.Model)
			}
			if e.Serial != ref.Serial {
				t.Errorf("serial %d, edid-decode %d", e.Serial, ref.Serial)
			}
			if e.Year != ref.Year || e.Week != ref.Week || e.ModelYear != ref.ModelYear {
				t.Errorf("week %d year %d model year %v, edid-decode week %d year %d model year %v",
					e.Week, e.Year, e.ModelYear, ref.Week, ref.Year, ref.ModelYear)
			}
			if want := expectedName(ref.Names); e.Name != want {
				t.Errorf("name %q, edid-decode %q", e.Name, want)
			}
			if e.SerialString != ref.SerialString {
				t.Errorf("serial string %q, edid-decode %q", e.SerialString, ref.SerialString)
			}
			wantExt := ref.Extensions
			if ref.EEODBCount != 0 {
				wantExt = ref.EEODBCount
			}
			if e.ExtensionCount != wantExt || len(e.Extensions) != wantExt {
				t.Errorf("extension count %d (%d read), edid-decode %d", e.ExtensionCount, len(e.Extensions), wantExt)
			}
			var bad []int
			for _, x := range e.Extensions {
				if !x.ChecksumOK {
					bad = append(bad, x.Block)
				}
			}
			if !slices.Equal(bad, ref.BadChecksum) || e.ChecksumOK != (len(bad) == 0) {
				t.Errorf("bad checksums in blocks %v (ok %v), edid-decode %v", bad, e.ChecksumOK, ref.BadChecksum)
			}
			if len(bad) > 0 && len(e.Warnings) == 0 {
				t.Errorf("a block with a bad checksum was skipped without a warning")
			}
			p, ok := e.Preferred()
			switch {
			case ref.Preferred == nil && ok:
				t.Errorf("preferred %v, edid-decode names none", p)
			case ref.Preferred != nil && !ok:
				t.Errorf("no preferred mode, edid-decode %+v", *ref.Preferred)
			case ok && !sameTiming(p, *ref.Preferred):
				t.Errorf("preferred %dx%d i=%v %.6f Hz %d kHz, edid-decode %+v", p.W, p.H, p.Interlaced, p.Hz, p.PixelClockKHz, *ref.Preferred)
			}
			if got := e.VICs(); !slices.Equal(got, ref.VICs) {
				t.Errorf("VICs %v, edid-decode %v", got, ref.VICs)
			}
			var dtds []edid.Mode
			dtds = append(dtds, e.DTDs...)
			for _, x := range e.Extensions {
				dtds = append(dtds, x.Timings...)
				for _, c := range e.CTA {
					if c.Block == x.Block {
						dtds = append(dtds, c.DTDs...)
					}
				}
				for _, d := range e.DisplayID {
					if d.Block == x.Block {
						dtds = append(dtds, d.Timings...)
					}
				}
			}
			if len(dtds) != len(ref.DTDs) {
				t.Errorf("%d detailed timings, edid-decode %d", len(dtds), len(ref.DTDs))
			} else {
				for i := range dtds {
					if !sameTiming(dtds[i], ref.DTDs[i]) {
						t.Errorf("detailed timing %d: %dx%d i=%v %.6f Hz %d kHz, edid-decode %+v", i,
							dtds[i].W, dtds[i].H, dtds[i].Interlaced, dtds[i].Hz, dtds[i].PixelClockKHz, ref.DTDs[i])
					}
				}
			}
			if len(e.Established) != len(ref.Established) {
				t.Errorf("%d established timings, edid-decode %d", len(e.Established), len(ref.Established))
			} else {
				for i, m := range e.Established {
					if !sameTiming(m, ref.Established[i].Timing) {
						t.Errorf("established timing %d: %v, edid-decode %+v", i, m, ref.Established[i])
					}
				}
			}
			// Standard timings only in the base block's 8 slots (a 0xFA
			// descriptor's are listed apart by edid-decode).
			std := e.StandardModes()
			if len(std) < len(ref.Standard) {
				t.Errorf("%d standard timings, edid-decode %d", len(std), len(ref.Standard))
			} else {
				for i, r := range ref.Standard {
					m := std[i]
					// DMT: the same table entry; GTF/CVT: ours is a CVT
					// estimate, so the size and nominal rate only.
					if r.Kind == "DMT" && !sameTiming(m, r.Timing) ||
						r.Kind != "DMT" && (m.W != r.W || m.H != r.H || math.Round(m.Hz) != math.Round(r.Hz)) {
						t.Errorf("standard timing %d: %v, edid-decode %s %+v", i, m, r.Kind, r.Timing)
					}
				}
			}
			var tmds, hf []int
			for _, c := range e.CTA {
				if c.HDMI != nil && c.HDMI.MaxTMDSKHz != 0 {
					tmds = append(tmds, c.HDMI.MaxTMDSKHz)
				}
				if c.HDMIForum != nil {
					hf = append(hf, c.HDMIForum.MaxTMDSCharacterRateKHz)
				}
			}
			if !slices.Equal(tmds, ref.MaxTMDSKHz) || !slices.Equal(hf, ref.MaxTMDSCharRateKHz) {
				t.Errorf("max TMDS %v, HF max TMDS character rate %v; edid-decode %v, %v", tmds, hf, ref.MaxTMDSKHz, ref.MaxTMDSCharRateKHz)
			}
		})
	}
	if real != 44 {
		t.Errorf("%d real EDIDs in the corpus, want 44", real)
	}
}

// TestDamaged: each damaged file gets its own error; edid-decode agrees
// that the three whose base block is unusable are unusable.
func TestDamaged(t *testing.T) {
	cases := map[string]struct {
		err      error
		withEDID bool // the base block is still returned
	}{
		"bad_all_ff.bin":        {edid.ErrHeader, false},
		"bad_header.bin":        {edid.ErrHeader, false},
		"bad_checksum.bin":      {edid.ErrChecksum, false},
		"bad_truncated_100.bin": {edid.ErrTruncated, false},
		"bad_extcount.bin":      {edid.ErrExtensionCount, true},
	}
	seen := 0
	for _, path := range edidtest.Files(t) {
		if !edidtest.Damaged(path) {
			continue
		}
		name := filepath.Base(path)
		c, ok := cases[name]
		if !ok {
			t.Errorf("%s: a damaged file this test does not know", name)
			continue
		}
		seen++
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		e, err := edid.Parse(b)
		if !errors.Is(err, c.err) {
			t.Errorf("%s: error %v, want %v", name, err, c.err)
		}
		var pe *edid.Error
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), "block") {
			t.Errorf("%s: error %v is not an *edid.Error naming the block", name, err)
		}
		if (e != nil) != c.withEDID {
			t.Errorf("%s: EDID returned: %v, want %v", name, e != nil, c.withEDID)
		}
		if e != nil && e.Manufacturer != "SAM" {
			t.Errorf("%s: the base block of the EDID returned with the error is wrong: %q", name, e.Manufacturer)
		}
	}
	if seen != len(cases) {
		t.Errorf("%d damaged files in the corpus, want %d", seen, len(cases))
	}
}

// TestDamagedEdidDecode: edid-decode refuses the same three files.
func TestDamagedEdidDecode(t *testing.T) {
	edidtest.EdidDecode(t)
	dir := edidtest.CorpusDir(t)
	for _, name := range []string{"bad_all_ff.bin", "bad_header.bin", "bad_truncated_100.bin"} {
		if r := edidtest.Decode(t, filepath.Join(dir, name)); r.Failed == "" {
			t.Errorf("edid-decode accepts %s", name)
		}
	}
	if r := edidtest.Decode(t, filepath.Join(dir, "bad_checksum.bin")); !slices.Equal(r.BadChecksum, []int{0}) {
		t.Errorf("edid-decode: bad_checksum.bin: bad blocks %v, want [0]", r.BadChecksum)
	}
}

// TestCVTAgainstEdidDecode: the CVT estimate used for standard timings
// that DMT lacks matches edid-decode --cvt.
func TestCVTAgainstEdidDecode(t *testing.T) {
	bin := edidtest.EdidDecode(t)
	for _, c := range []struct {
		w, h int
		hz   float64
	}{{1920, 1080, 60}, {2288, 1430, 61}, {1152, 864, 60}, {1280, 1024, 85}, {1600, 1200, 75}, {2048, 1280, 60}, {1024, 768, 120}, {3840, 2160, 30}} {
		out, err := exec.Command(bin, "--cvt", fmt.Sprintf("w=%d,h=%d,fps=%g", c.w, c.h, c.hz)).CombinedOutput()
		if err != nil {
			t.Fatalf("edid-decode --cvt: %v %s", err, out)
		}
		var w, h int
		var hz, khz, mhz float64
		var ar string
		if _, err := fmt.Sscanf(string(out), "CVT: %dx%d %f Hz %s %f kHz %f MHz", &w, &h, &hz, &ar, &khz, &mhz); err != nil {
			t.Fatalf("edid-decode --cvt output %q: %v", out, err)
		}
		got := edid.CVT(c.w, c.h, c.hz)
		if got.W != w || got.H != h || got.PixelClockKHz != int(mhz*1000+0.5) || math.Abs(got.Hz-hz) > 0.0005 {
			t.Errorf("CVT %dx%d@%g: %dx%d %.6f Hz %d kHz; edid-decode %s", c.w, c.h, c.hz, got.W, got.H, got.Hz, got.PixelClockKHz, strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0]))
		}
	}
}

// TestDescriptorsAgainstEdidDecode: a base block with an established
// timings III descriptor (every bit set) and a CVT 3-byte descriptor (four
// codes, every rate), built by hand since no corpus display has them, is
// decoded as edid-decode decodes it.
func TestDescriptorsAgainstEdidDecode(t *testing.T) {
	bin := edidtest.EdidDecode(t)
	b := append([]byte(nil), read(t, "old_dell_1907fp_dvi_1280x1024.bin")...)
	et3 := make([]byte, 18)
	et3[3], et3[5] = 0xf7, 10
	copy(et3[6:], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xf0})
	code := func(lines, asp, pref, sup int) []byte {
		v := lines/2 - 1
		return []byte{byte(v), byte(v>>8)<<4 | byte(asp)<<2, byte(pref)<<5 | byte(sup)}
	}
	c3 := make([]byte, 18)
	c3[3], c3[5] = 0xf8, 1
	copy(c3[6:], slices.Concat(code(1080, 1, 1, 0x1f), code(768, 0, 2, 0x04), code(1200, 2, 1, 0x09), code(900, 3, 3, 0x02)))
	copy(b[54+18*2:], c3)
	copy(b[54+18*3:], et3)
	b = fix(b)
	path := filepath.Join(t.TempDir(), "crafted.bin")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, path).CombinedOutput()
	if err != nil {
		t.Fatalf("edid-decode: %v %s", err, out)
	}
	lineRe := regexp.MustCompile(`^      (?:CVT|DMT 0x[0-9a-f]+):\s+(\d+)x(\d+)\s+([0-9.]+) Hz\s+\S+\s+[0-9.]+ kHz\s+([0-9.]+) MHz`)
	want := map[string][]edidtest.Timing{}
	section := ""
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "    ") && !strings.HasPrefix(l, "     ") {
			section = strings.TrimSpace(l)
		}
		if m := lineRe.FindStringSubmatch(l); m != nil {
			w, _ := strconv.Atoi(m[1])
			h, _ := strconv.Atoi(m[2])
			hz, _ := strconv.ParseFloat(m[3], 64)
			mhz, _ := strconv.ParseFloat(m[4], 64)
			want[section] = append(want[section], edidtest.Timing{W: w, H: h, Hz: hz, PixelClockKHz: int(mhz*1000 + 0.5)})
		}
	}
	e, err := edid.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		section string
		got     []edid.Mode
	}{{"CVT 3 Byte Timing Codes:", e.CVT3}, {"Established timings III:", e.EstablishedIII}} {
		w := want[c.section]
		if len(w) == 0 || len(w) != len(c.got) {
			t.Errorf("%s %d timings, edid-decode %d", c.section, len(c.got), len(w))
			continue
		}
		for i := range w {
			if !sameTiming(c.got[i], w[i]) {
				t.Errorf("%s %d: %v, edid-decode %+v", c.section, i, c.got[i], w[i])
			}
		}
	}
	if len(e.EstablishedIII) != 44 || len(e.CVT3) != 9 {
		t.Errorf("%d established III, %d CVT", len(e.EstablishedIII), len(e.CVT3))
	}
}

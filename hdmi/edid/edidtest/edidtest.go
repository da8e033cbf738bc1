// Package edidtest finds the shared EDID corpus (shared/testdata/edid,
// beside the repository) and runs Debian's edid-decode on a file as an
// independent reference, parsing its text output.
package edidtest

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// corpusRel is where the corpus sits relative to the repository's parent:
// the CI clone and /work/main have shared/ beside the repo; a worktree
// (/work/wt/NAME) one level further up.
const corpusRel = "shared/testdata/edid"

// CorpusDir returns the corpus directory as a relative path from the test's
// working directory (its package directory), looking in each parent in
// turn. The test fails, saying where it looked, when the corpus is missing.
func CorpusDir(t testing.TB) string {
	t.Helper()
	var tried []string
	dir := ".."
	for i := 0; i < 8; i++ {
		p := filepath.Join(dir, corpusRel)
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p
		}
		tried = append(tried, p)
		dir = filepath.Join(dir, "..")
	}
	t.Fatalf("EDID corpus not found: looked for %s in %s; check out the shared test data beside the repository (CI clones it as ../shared)", corpusRel, strings.Join(tried, ", "))
	return ""
}

// Files returns the corpus's .bin files (full relative paths), sorted.
func Files(t testing.TB) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(CorpusDir(t), "*.bin"))
	if err != nil || len(m) == 0 {
		t.Fatalf("no .bin files in the EDID corpus %s (err %v)", CorpusDir(t), err)
	}
	return m
}

// Damaged says a corpus file is one of the damaged copies (bad_*.bin).
func Damaged(path string) bool { return strings.HasPrefix(filepath.Base(path), "bad_") }

// EdidDecode returns the path of edid-decode. When it is missing the test
// is skipped, except under CI=true, where it fails: make test installs it
// (hack/install-deps.sh edid-decode, from hack/mk/hdmi.mk).
func EdidDecode(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("edid-decode")
	if err != nil {
		msg := "edid-decode not found: install it with hack/install-deps.sh edid-decode (make test-hdmi does)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// Timing is a timing line of edid-decode.
type Timing struct {
	W, H          int
	Interlaced    bool
	Hz            float64
	PixelClockKHz int
}

// KindTiming is a timing with the table edid-decode took it from.
type KindTiming struct {
	Kind string
	Timing
}

// Reference is what edid-decode says about one file.
type Reference struct {
	Failed       string // edid-decode refused the file: its message
	Manufacturer string
	Model        int
	Serial       uint32
	Week, Year   int
	ModelYear    bool
	Names        []string // Display Product Name descriptors of block 0
	SerialString string
	Extensions   int // "Extension blocks" of block 0
	EEODBCount   int // HF-EEODB count, 0 without one
	// BadChecksum lists the blocks whose checksum edid-decode flags.
	BadChecksum []int
	Preferred   *Timing
	// VICs: Video Data Block VICs of the blocks with a good checksum.
	VICs []int
	// DTDs: every detailed timing (base, CTA, DisplayID) of the blocks
	// with a good checksum, in order.
	DTDs []Timing
	// Established and Standard: the base block's established and standard
	// timings; Kind is "DMT", "IBM", "Apple", "GTF" or "CVT" (how
	// edid-decode resolved it).
	Established []KindTiming
	Standard    []KindTiming
	// MaxTMDSKHz, MaxTMDSCharRateKHz: from the HDMI and HDMI Forum VSDBs.
	MaxTMDSKHz         []int
	MaxTMDSCharRateKHz []int
}

var (
	timingRe = regexp.MustCompile(`^\s*(?:DTD\s*\d*|VIC\s*\d+):\s+(\d+)x(\d+)(i?)\s+([0-9.]+) Hz\s+\S+\s+[0-9.]+ kHz\s+([0-9.]+) MHz`)
	blockRe  = regexp.MustCompile(`^Block (\d+), (.*):$`)
	vicRe    = regexp.MustCompile(`^\s+VIC\s+(\d+):`)
	listRe   = regexp.MustCompile(`^    (DMT|IBM|Apple|GTF|CVT)\b[^:]*:\s+(\d+)x(\d+)(i?)\s+([0-9.]+) Hz\s+\S+\s+[0-9.]+ kHz\s+([0-9.]+) MHz`)
	nameRe   = regexp.MustCompile(`^\s+Display Product Name: '(.*)'$`)
	serialRe = regexp.MustCompile(`^\s+Display Product Serial Number: '(.*)'$`)
)

func parseTiming(l string) (Timing, bool) {
	m := timingRe.FindStringSubmatch(l)
	if m == nil {
		return Timing{}, false
	}
	w, _ := strconv.Atoi(m[1])
	h, _ := strconv.Atoi(m[2])
	hz, _ := strconv.ParseFloat(m[4], 64)
	mhz, _ := strconv.ParseFloat(m[5], 64)
	return Timing{W: w, H: h, Interlaced: m[3] == "i", Hz: hz, PixelClockKHz: int(mhz*1000 + 0.5)}, true
}

// Decode runs edid-decode -p on path and parses what it prints.
func Decode(t testing.TB, path string) Reference {
	t.Helper()
	bin := EdidDecode(t)
	out, err := exec.Command(bin, "-p", path).CombinedOutput()
	var r Reference
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("edid-decode %s: %v", path, err)
		}
		r.Failed = strings.TrimSpace(string(out))
		return r
	}
	// Pass 1: the blocks whose checksum line says "(should be ...)".
	type blk struct {
		lines []string
		bad   bool
	}
	var blocks []*blk
	var cur *blk
	var prefSections = map[string][]string{}
	var prefName string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "Preferred Video Timing") {
			prefName, cur = l, nil
			continue
		}
		if m := blockRe.FindStringSubmatch(l); m != nil {
			cur, prefName = &blk{}, ""
			blocks = append(blocks, cur)
			continue
		}
		if l == "----------------" {
			cur, prefName = nil, ""
			continue
		}
		if prefName != "" {
			prefSections[prefName] = append(prefSections[prefName], l)
			continue
		}
		if cur == nil {
			continue
		}
		cur.lines = append(cur.lines, l)
		if strings.HasPrefix(l, "Checksum: ") && strings.Contains(l, "should be") {
			cur.bad = true
		}
	}
	for i, b := range blocks {
		if b.bad {
			r.BadChecksum = append(r.BadChecksum, i)
		}
	}
	for i, b := range blocks {
		inVDB := false
		section := ""
		for _, l := range b.lines {
			f := strings.Fields(l)
			if i == 0 {
				if strings.HasPrefix(l, "  ") && !strings.HasPrefix(l, "   ") {
					section = strings.TrimSpace(l)
				}
				if m := listRe.FindStringSubmatch(l); m != nil {
					w, _ := strconv.Atoi(m[2])
					h, _ := strconv.Atoi(m[3])
					hz, _ := strconv.ParseFloat(m[5], 64)
					mhz, _ := strconv.ParseFloat(m[6], 64)
					kt := KindTiming{m[1], Timing{W: w, H: h, Interlaced: m[4] == "i", Hz: hz, PixelClockKHz: int(mhz*1000 + 0.5)}}
					switch section {
					case "Established Timings I & II:":
						r.Established = append(r.Established, kt)
					case "Standard Timings:":
						r.Standard = append(r.Standard, kt)
					}
				}
				switch {
				case strings.HasPrefix(l, "    Manufacturer: "):
					r.Manufacturer = f[1]
				case strings.HasPrefix(l, "    Model: "):
					r.Model, _ = strconv.Atoi(f[1])
				case strings.HasPrefix(l, "    Serial Number: "):
					n, _ := strconv.ParseUint(f[2], 10, 32)
					r.Serial = uint32(n)
				case strings.HasPrefix(l, "    Made in: week "):
					r.Week, _ = strconv.Atoi(f[3])
					r.Year, _ = strconv.Atoi(f[5])
				case strings.HasPrefix(l, "    Made in: "):
					r.Year, _ = strconv.Atoi(f[2])
				case strings.HasPrefix(l, "    Model year: "):
					r.Year, _ = strconv.Atoi(f[2])
					r.ModelYear = true
				case strings.HasPrefix(l, "  Extension blocks: "):
					r.Extensions, _ = strconv.Atoi(f[2])
				}
				if m := nameRe.FindStringSubmatch(l); m != nil {
					r.Names = append(r.Names, m[1])
				}
				if m := serialRe.FindStringSubmatch(l); m != nil {
					r.SerialString = m[1]
				}
			}
			if strings.HasPrefix(l, "    EDID Extension Block Count: ") {
				r.EEODBCount, _ = strconv.Atoi(f[4])
			}
			if b.bad {
				continue
			}
			// A data block heading is indented two spaces.
			if strings.HasPrefix(l, "  ") && !strings.HasPrefix(l, "   ") {
				inVDB = strings.TrimSpace(l) == "Video Data Block:"
			}
			if inVDB {
				if m := vicRe.FindStringSubmatch(l); m != nil {
					v, _ := strconv.Atoi(m[1])
					r.VICs = append(r.VICs, v)
				}
			}
			if strings.HasPrefix(strings.TrimSpace(l), "DTD") {
				if tm, ok := parseTiming(l); ok {
					r.DTDs = append(r.DTDs, tm)
				}
			}
			if strings.HasPrefix(l, "    Maximum TMDS clock: ") {
				n, _ := strconv.Atoi(f[3])
				r.MaxTMDSKHz = append(r.MaxTMDSKHz, n*1000)
			}
			if strings.HasPrefix(l, "    Maximum TMDS Character Rate: ") {
				n, _ := strconv.Atoi(f[4])
				r.MaxTMDSCharRateKHz = append(r.MaxTMDSCharRateKHz, n*1000)
			}
		}
	}
	// The preferred timing: block 0's, else DisplayID's, else CTA's.
	for _, name := range []string{
		"Preferred Video Timing if only Block 0 is parsed:",
		"Preferred Video Timing if Block 0 and DisplayID Blocks are parsed:",
		"Preferred Video Timings if Block 0 and CTA-861 Blocks are parsed:",
	} {
		for _, l := range prefSections[name] {
			if tm, ok := parseTiming(l); ok {
				r.Preferred = &tm
				break
			}
		}
		if r.Preferred != nil {
			break
		}
	}
	return r
}

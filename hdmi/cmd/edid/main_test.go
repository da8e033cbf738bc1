package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"oepc.dev/oepcos/hdmi/edid/edidtest"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// build compiles the command once per test binary.
func build(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "edid-cmd-test")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "edid")
		out, err := exec.Command("go", "build", "-o", builtBin, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builtBin != "" {
		os.RemoveAll(filepath.Dir(builtBin))
	}
	os.Exit(code)
}

type jsonOut struct {
	Manufacturer    *string          `json:"manufacturer"`
	ProductCode     *int             `json:"product_code"`
	Serial          *uint32          `json:"serial"`
	Year            *int             `json:"year"`
	Name            *string          `json:"name"`
	ChecksumOK      bool             `json:"checksum_ok"`
	ExtensionBlocks int              `json:"extension_blocks"`
	Preferred       *json.RawMessage `json:"preferred"`
	VICs            []int            `json:"vics"`
	Chosen          *struct {
		W, H          int
		Hz            float64
		PixelClockKHz int `json:"pixel_clock_khz"`
		Interlaced    bool
		Reason        string
	} `json:"chosen"`
	Error *string `json:"error"`
}

func runBin(t *testing.T, bin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("%s %v: %v", bin, args, err)
	}
	return o.String(), e.String(), code
}

// TestBinaryJSON runs the built command on every corpus file: it exits
// non-zero exactly when error is set, and the JSON matches edid-decode.
func TestBinaryJSON(t *testing.T) {
	bin := build(t)
	edidtest.EdidDecode(t)
	for _, path := range edidtest.Files(t) {
		name := filepath.Base(path)
		out, stderr, code := runBin(t, bin, path, "--json")
		var j jsonOut
		dec := json.NewDecoder(strings.NewReader(out))
		if err := dec.Decode(&j); err != nil {
			t.Errorf("%s: not JSON (%v): %q %s", name, err, out, stderr)
			continue
		}
		if dec.More() {
			t.Errorf("%s: more than one JSON value", name)
		}
		if (j.Error != nil) != (code != 0) {
			t.Errorf("%s: exit %d with error %v", name, code, j.Error)
		}
		if edidtest.Damaged(path) {
			if j.Error == nil || code != 1 {
				t.Errorf("%s: damaged file: exit %d, error %v", name, code, j.Error)
			}
			continue
		}
		ref := edidtest.Decode(t, path)
		if code != 0 {
			t.Errorf("%s: exit %d: %v", name, code, *j.Error)
			continue
		}
		if j.Manufacturer == nil || *j.Manufacturer != ref.Manufacturer || j.ProductCode == nil || *j.ProductCode != ref.Model ||
			j.Serial == nil || *j.Serial != ref.Serial || j.Year == nil || *j.Year != ref.Year {
			t.Errorf("%s: ids %s, edid-decode %+v", name, out, ref)
		}
		if (j.Name == nil) != (len(ref.Names) == 0) {
			t.Errorf("%s: name %v, edid-decode %v", name, j.Name, ref.Names)
		}
		if (j.Preferred == nil) != (ref.Preferred == nil) {
			t.Errorf("%s: preferred %v, edid-decode %v", name, j.Preferred, ref.Preferred)
		}
		if j.VICs == nil || !slices.Equal(j.VICs, ref.VICs) {
			t.Errorf("%s: vics %v, edid-decode %v", name, j.VICs, ref.VICs)
		}
		if j.ChecksumOK != (len(ref.BadChecksum) == 0) {
			t.Errorf("%s: checksum_ok %v, edid-decode bad blocks %v", name, j.ChecksumOK, ref.BadChecksum)
		}
		if name != "hmd_valve_index_displayid_only.bin" && (j.Chosen == nil || j.Chosen.W == 0 || j.Chosen.Reason == "") {
			t.Errorf("%s: chosen %+v", name, j.Chosen)
		}
	}
}

func TestBinaryFields(t *testing.T) {
	bin := build(t)
	dir := edidtest.CorpusDir(t)
	out, _, code := runBin(t, bin, "--json", filepath.Join(dir, "tv_sony_1080i50_2005.bin"))
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"manufacturer", "product_code", "serial", "year", "name", "checksum_ok", "extension_blocks", "preferred", "vics", "chosen", "error"} {
		if _, ok := m[k]; !ok {
			t.Errorf("no %q in %s", k, out)
		}
	}
	p := m["preferred"].(map[string]any)
	if p["w"] != 1920.0 || p["h"] != 1080.0 || p["hz"] != 50.0 || p["pixel_clock_khz"] != 74250.0 || p["interlaced"] != true {
		t.Errorf("preferred %v", p)
	}
	c := m["chosen"].(map[string]any)
	if c["w"] != 1280.0 || c["interlaced"] != false {
		t.Errorf("chosen %v", c)
	}
	if m["error"] != nil || m["name"] != "SONY TV" || m["manufacturer"] != "SNY" {
		t.Errorf("%s", out)
	}
	// The same with interlace allowed: the preferred 1080i50.
	out, _, _ = runBin(t, bin, "--json", "--interlaced", filepath.Join(dir, "tv_sony_1080i50_2005.bin"))
	if !strings.Contains(out, `"interlaced": true,`+"\n    \"source\": \"dtd\"") {
		t.Errorf("--interlaced: %s", out)
	}
	// No name descriptor: null.
	out, _, _ = runBin(t, bin, "--json", filepath.Join(dir, "panel_lgd_1366x768_noname.bin"))
	if !strings.Contains(out, `"name": null`) {
		t.Errorf("nameless panel: %s", out)
	}
}

func TestBinaryHumanAndErrors(t *testing.T) {
	bin := build(t)
	dir := edidtest.CorpusDir(t)
	out, _, code := runBin(t, bin, filepath.Join(dir, "tv_samsung_qcq90_hf_eeodb_2023.bin"))
	for _, s := range []string{"Manufacturer:  SAM", "Name:          QCQ90", "HDMI Forum VSDB: max TMDS character rate 600 MHz", "Chosen:        preferred mode: 3840x2160p60"} {
		if !strings.Contains(out, s) {
			t.Errorf("no %q in\n%s", s, out)
		}
	}
	if code != 0 {
		t.Errorf("exit %d", code)
	}
	_, stderr, code := runBin(t, bin, filepath.Join(dir, "bad_header.bin"))
	if code != 1 || !strings.Contains(stderr, "bad EDID header") {
		t.Errorf("bad header: exit %d, %q", code, stderr)
	}
	out, _, code = runBin(t, bin, "--json", filepath.Join(t.TempDir(), "missing.bin"))
	if code != 1 || !strings.Contains(out, "no such file") {
		t.Errorf("missing file: exit %d, %s", code, out)
	}
	if _, _, code = runBin(t, bin); code != 2 {
		t.Errorf("no file: exit %d, want 2", code)
	}
	// The extension count past the data: error, with the base block.
	out, _, code = runBin(t, bin, "--json", filepath.Join(dir, "bad_extcount.bin"))
	if code != 1 || !strings.Contains(out, "extension count past the data") || !strings.Contains(out, `"manufacturer": "SAM"`) {
		t.Errorf("bad extcount: exit %d, %s", code, out)
	}
	// An EDID cut short inside its extension.
	b, err := os.ReadFile(filepath.Join(dir, "tv_samsung_1080p_2013.bin"))
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.bin")
	if err := os.WriteFile(cut, b[:200], 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, code = runBin(t, bin, "--json", cut)
	if code != 1 || !strings.Contains(out, "truncated") {
		t.Errorf("cut: exit %d, %s", code, out)
	}
}

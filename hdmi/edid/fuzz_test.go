package edid_test

import (
	"errors"
	"math"
	"os"
	"testing"

	"oepc.dev/oepcos/hdmi/edid"
	"oepc.dev/oepcos/hdmi/edid/edidtest"
	"oepc.dev/oepcos/hdmi/mode"
)

// FuzzParse: any bytes give an EDID or one of the sentinel errors, never a
// panic; what is returned is self-consistent and mode choice works on it.
// Seeds: the whole corpus (real and damaged).
func FuzzParse(f *testing.F) {
	for _, path := range edidtest.Files(f) {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(checkParse)
}

// FuzzParseValidBlocks mends the header and every block's checksum before
// parsing, so that mutations reach the extension parsers instead of
// stopping at a checksum.
func FuzzParseValidBlocks(f *testing.F) {
	for _, path := range edidtest.Files(f) {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		b = append([]byte(nil), b...)
		if len(b) >= 8 {
			copy(b, []byte{0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0})
		}
		for i := 0; i+edid.BlockSize <= len(b); i += edid.BlockSize {
			var s byte
			for _, c := range b[i : i+edid.BlockSize-1] {
				s += c
			}
			b[i+edid.BlockSize-1] = -s
		}
		checkParse(t, b)
	})
}

func checkParse(t *testing.T, b []byte) {
	t.Helper()
	e, err := edid.Parse(b)
	if err != nil {
		var pe *edid.Error
		if !errors.As(err, &pe) {
			t.Fatalf("error %v is not an *edid.Error", err)
		}
		known := false
		for _, s := range []error{edid.ErrHeader, edid.ErrChecksum, edid.ErrTruncated, edid.ErrExtensionCount} {
			known = known || errors.Is(err, s)
		}
		if !known {
			t.Fatalf("error %v wraps no sentinel", err)
		}
	}
	if e == nil {
		if err == nil {
			t.Fatal("no EDID and no error")
		}
		return
	}
	if len(b) < edid.BlockSize {
		t.Fatalf("an EDID from %d bytes", len(b))
	}
	if len(e.DescriptorTag) != 4 {
		t.Fatalf("%d descriptors", len(e.DescriptorTag))
	}
	if len(e.Extensions) > e.ExtensionCount || len(e.Extensions) > len(b)/edid.BlockSize-1 {
		t.Fatalf("%d extensions read, %d declared, %d bytes", len(e.Extensions), e.ExtensionCount, len(b))
	}
	if len(e.Manufacturer) != 3 {
		t.Fatalf("manufacturer %q", e.Manufacturer)
	}
	for _, m := range e.Modes() {
		if m.W <= 0 || m.H <= 0 || m.PixelClockKHz <= 0 || math.IsNaN(m.Hz) || math.IsInf(m.Hz, 0) || m.Hz <= 0 {
			t.Fatalf("bad mode %+v", m)
		}
	}
	if p, ok := e.Preferred(); ok && !p.Preferred {
		t.Fatalf("preferred mode not flagged preferred: %+v", p)
	}
	c, err := mode.Choose(e, mode.Default)
	if err == nil && (c.Reason == "" || c.Mode.PixelClockKHz > mode.Default.MaxPixelClockKHz) {
		t.Fatalf("choice %+v", c)
	}
}

package x10

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// Preset Dim frames: the level's low four bits in the house nibble in the
// order M N O P C D A B E F G H K L I J, its high bit choosing Preset Dim 1
// (1010) or 2 (1011), after the function header 06 (protocol.txt 1.2, 3.1).
func TestPresetDimFrames(t *testing.T) {
	for _, c := range []struct {
		level int
		want  string
	}{
		{0, "060a"}, {1, "068a"}, {6, "066a"}, {15, "06fa"},
		{16, "060b"}, {17, "068b"}, {31, "06fb"},
	} {
		if got := PresetDimFrame(c.level); hex.EncodeToString(got) != c.want {
			t.Errorf("PresetDimFrame(%d) = %x, want %s", c.level, got, c.want)
		}
	}
	const order = "MNOPCDABEFGHKLIJ"
	for n := 0; n <= MaxPreset; n++ {
		b := PresetDimFrame(n)[1]
		if HouseLetter(b>>4) != order[n%16] {
			t.Errorf("level %d rides in house %c, want %c", n, HouseLetter(b>>4), order[n%16])
		}
		if l, ok := PresetLevel(b); !ok || l != n {
			t.Errorf("PresetLevel(%02x) = %d %v, want %d", b, l, ok, n)
		}
		it := PresetItem(n)
		if l, ok := it.PresetOf(); !ok || l != n {
			t.Errorf("PresetItem(%d).PresetOf() = %d %v", n, l, ok)
		}
	}
	if _, ok := PresetLevel(0x62); ok { // A On
		t.Fatal("A On decoded as a preset dim")
	}
	if LevelOfPreset(0) != 0 || LevelOfPreset(31) != 255 || LevelOfPreset(16) != 132 || PresetStepOf(128) != 16 || PresetStepOf(255) != 31 {
		t.Fatal("preset level scale")
	}
	// In an upload: A2 then Preset Dim 1 at level 8 (house E, 0001).
	items, err := DecodeUpload([]byte{0x03, 0x02, 0x6E, 0x1A})
	if err != nil || len(items) != 2 || items[0].Addr != (Addr{'A', 2}) {
		t.Fatalf("upload %v %v", items, err)
	}
	if l, ok := items[1].PresetOf(); !ok || l != 8 || items[1].String() != "preset-dim-1 8/31" {
		t.Fatalf("preset item %+v: %d %v %q", items[1], l, ok, items[1].String())
	}
	b, err := EncodeUpload(items)
	if err != nil || !bytes.Equal(b, []byte{0x03, 0x02, 0x6E, 0x1A}) {
		t.Fatalf("re-encoded %x %v", b, err)
	}
}

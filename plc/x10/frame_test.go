package x10

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"oepc.dev/oepcos/plc"
)

// The byte vectors below are written from X10's CM11A protocol document
// (protocol.txt, "Interface Communication Protocol", DBS 1.11 as kept in
// the heyu repository), section by section, and from two public traces
// cited where used.

func TestCodeTable(t *testing.T) {
	// protocol.txt 1.1: A/1 0110, B/2 1110, ... P/16 1100.
	want := map[byte]byte{'A': 0x6, 'B': 0xE, 'C': 0x2, 'D': 0xA, 'E': 0x1, 'F': 0x9, 'G': 0x5, 'H': 0xD,
		'I': 0x7, 'J': 0xF, 'K': 0x3, 'L': 0xB, 'M': 0x0, 'N': 0x8, 'O': 0x4, 'P': 0xC}
	for h, c := range want {
		got, ok := HouseCode(h)
		if !ok || got != c {
			t.Errorf("HouseCode(%c) = %x, want %x", h, got, c)
		}
		if HouseLetter(c) != h {
			t.Errorf("HouseLetter(%x) = %c, want %c", c, HouseLetter(c), h)
		}
		u := int(h-'A') + 1
		if got, _ := UnitCode(u); got != c {
			t.Errorf("UnitCode(%d) = %x, want %x", u, got, c)
		}
		if UnitNumber(c) != u {
			t.Errorf("UnitNumber(%x) = %d, want %d", c, UnitNumber(c), u)
		}
	}
	if _, ok := HouseCode('Q'); ok {
		t.Error("house Q accepted")
	}
	if _, ok := UnitCode(17); ok {
		t.Error("unit 17 accepted")
	}
}

func TestParseAddr(t *testing.T) {
	for s, want := range map[string]Addr{"A1": {'A', 1}, "p16": {'P', 16}, "G1": {'G', 1}, " b10 ": {'B', 10}} {
		got, err := ParseAddr(s)
		if err != nil || got != want {
			t.Errorf("ParseAddr(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "A", "A0", "A17", "Q1", "1A", "A01", "A+1", "AA", "A1x", "A-1", "1A.2B.3C"} {
		if _, err := ParseAddr(s); !errors.Is(err, plc.ErrBadAddress) {
			t.Errorf("ParseAddr(%q): err %v, want ErrBadAddress", s, err)
		}
	}
}

func TestStandardFrames(t *testing.T) {
	a1, a2, g1 := Addr{'A', 1}, Addr{'A', 2}, Addr{'G', 1}
	dim16, _ := FunctionFrame('A', Dim, 16)
	aOff, _ := FunctionFrame('A', Off, 0)
	for _, tc := range []struct {
		name  string
		frame []byte
		want  []byte
		sum   byte
	}{
		// protocol.txt 3.1.4: "0x04,0x66 Address A1 / 0x6a Checksum".
		{"address A1", AddressFrame(a1), []byte{0x04, 0x66}, 0x6a},
		// 3.1.4: "0x04,0x6e Address A2 / 0x72".
		{"address A2", AddressFrame(a2), []byte{0x04, 0x6e}, 0x72},
		// 3.1.4: "0x86,0x64 Function: A Dim 16/22*100% / 0xea".
		{"A dim 16", dim16, []byte{0x86, 0x64}, 0xea},
		// X10's forum answer (forums.x10.com topic 13168): A Off is 06 63, sum 69.
		{"A off", aOff, []byte{0x06, 0x63}, 0x69},
		// G1 is 04 56: its checksum 0x5A is the poll byte.
		{"address G1", AddressFrame(g1), []byte{0x04, 0x56}, PollData},
	} {
		if !bytes.Equal(tc.frame, tc.want) {
			t.Errorf("%s: % x, want % x", tc.name, tc.frame, tc.want)
		}
		if s := Checksum(tc.frame); s != tc.sum {
			t.Errorf("%s: checksum %02x, want %02x", tc.name, s, tc.sum)
		}
	}
	if _, err := FunctionFrame('A', Dim, 23); err == nil {
		t.Error("dims 23 accepted")
	}
	if _, err := FunctionFrame('Z', On, 0); !errors.Is(err, plc.ErrBadAddress) {
		t.Error("house Z accepted")
	}
	if _, err := FunctionFrame('A', ExtendedCode, 0); err == nil {
		t.Error("extended code as a standard frame accepted")
	}
}

func TestExtendedFrame(t *testing.T) {
	// protocol.txt 3.2: header 0x07, house:0111, unit code, data, command;
	// checksum over all five. N1 (N=8, 1=6), preset dim (0x31) to 63.
	f := ExtendedFrame(Addr{'N', 1}, 0x3f, 0x31)
	want := []byte{0x07, 0x87, 0x06, 0x3f, 0x31}
	if !bytes.Equal(f, want) {
		t.Fatalf("% x, want % x", f, want)
	}
	if s := Checksum(f); s != (0x07+0x87+0x06+0x3f+0x31)&0xff {
		t.Errorf("checksum %02x", s)
	}
}

func TestDecodeUpload(t *testing.T) {
	// protocol.txt 4.6: B6 B7 B Bright 0x58. The document prints the size
	// byte as 0x06 but lists five bytes after it, and defines the count as
	// starting at the mask (4.3); heyu and pyx10 count from the mask, so
	// the vector is 05 04 e9 e5 e5 58.
	items, err := DecodeUpload([]byte{0x05, 0x04, 0xe9, 0xe5, 0xe5, 0x58})
	if err != nil {
		t.Fatal(err)
	}
	want := []Item{{Addr: Addr{'B', 6}}, {Addr: Addr{'B', 7}}, {IsFunction: true, House: 'B', Func: Bright, DimAmount: 0x58}}
	if len(items) != len(want) {
		t.Fatalf("items %v", items)
	}
	for i := range want {
		if items[i] != want[i] {
			t.Errorf("item %d: %+v, want %+v", i, items[i], want[i])
		}
	}
	if got := Describe(items); got != "B6 B7 B bright 88/210" {
		t.Errorf("Describe: %q", got)
	}
	// The document's literal bytes are cut short by its own count.
	if _, err := DecodeUpload([]byte{0x06, 0x04, 0xe9, 0xe5, 0xe5, 0x58}); !errors.Is(err, ErrUpload) {
		t.Errorf("size 6 with 5 bytes: err %v", err)
	}

	// An extended code upload from a CM11A, posted by Dave Houston to
	// comp.home.automation (Nov 2006): "N1 Extended Dim 63 (100%) gives
	// 5A 05 01 87 06 3F 31 with the CM11A": poll, size 5, mask 01, N ext,
	// unit 1, data 3F, command 31.
	items, err = DecodeUpload([]byte{0x05, 0x01, 0x87, 0x06, 0x3f, 0x31})
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || items[0] != (Item{IsFunction: true, House: 'N', Func: ExtendedCode, Unit: 1, Data: 0x3f, Cmd: 0x31}) {
		t.Errorf("extended: %+v", items)
	}

	for name, b := range map[string][]byte{
		"empty":             {},
		"size 0":            {0x00},
		"size 1":            {0x01, 0x00},
		"size 10":           {0x0a, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9},
		"dim without byte":  {0x03, 0x02, 0x66, 0x64},
		"ext without bytes": {0x04, 0x01, 0x87, 0x06, 0x3f},
		"dim amount 211":    {0x03, 0x01, 0x64, 211},
		"long":              {0x02, 0x00, 0x66, 0x66},
	} {
		if _, err := DecodeUpload(b); !errors.Is(err, ErrUpload) {
			t.Errorf("%s: err %v, want ErrUpload", name, err)
		}
	}
}

func TestEncodeUploadRoundTrip(t *testing.T) {
	in := []Item{{Addr: Addr{'A', 1}}, {Addr: Addr{'A', 3}}, {IsFunction: true, House: 'A', Func: Dim, DimAmount: 105},
		{IsFunction: true, House: 'C', Func: ExtendedCode, Unit: 2, Data: 9, Cmd: 0x31}}
	b, err := EncodeUpload(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{0x09, 0x14, 0x66, 0x62, 0x64, 105, 0x27, 0x0e, 9, 0x31}; !bytes.Equal(b, want) {
		t.Fatalf("% x, want % x", b, want)
	}
	out, err := DecodeUpload(b)
	if err != nil || len(out) != len(in) {
		t.Fatalf("%v %v", out, err)
	}
	for i := range in {
		if out[i] != in[i] {
			t.Errorf("%d: %+v != %+v", i, out[i], in[i])
		}
	}
	if _, err := EncodeUpload(append(in, Item{Addr: Addr{'A', 2}})); err == nil {
		t.Error("9 data bytes accepted")
	}
}

func TestClockFrame(t *testing.T) {
	// protocol.txt 8: 9B, seconds, minutes 0-119, hours/2, year day (bit 8
	// in the next byte's bit 7), day mask SMTWTFS (bit 0 Sunday), monitored
	// house code in the high nibble and the flags below. Tuesday 5 March
	// 2024 13:45:30, year day 64 (0-based), house A (6).
	tm := time.Date(2024, 3, 5, 13, 45, 30, 0, time.UTC)
	f := ClockFrame(tm, 'A', 0)
	want := []byte{0x9b, 30, 45 + 60, 6, 64, 1 << 2, 0x60}
	if !bytes.Equal(f, want) {
		t.Fatalf("% x, want % x", f, want)
	}
	// The checksum the interface answers covers the six bytes after 0x9B
	// (heyu setclock.c: checksum(data + 1, 6)).
	if s := Checksum(f); s != 0x31 {
		t.Errorf("checksum %02x, want 31", s)
	}
	c, err := DecodeClock(f)
	if err != nil {
		t.Fatal(err)
	}
	if c.Hour != 13 || c.Minute != 45 || c.Second != 30 || c.YearDay != 64 || c.Weekday != time.Tuesday || c.House != 'A' {
		t.Errorf("decoded %+v", c)
	}
	// Year day 364 (31 Dec 2023, a Sunday) needs the ninth bit.
	f = ClockFrame(time.Date(2023, 12, 31, 0, 0, 0, 0, time.UTC), 'P', 0x4)
	if f[4] != 0x6c || f[5] != 0x81 || f[6] != 0xc4 {
		t.Errorf("year day 364: % x", f)
	}
	if c, err := DecodeClock(f); err != nil || c.YearDay != 364 || c.Weekday != time.Sunday || c.Flags != 4 {
		t.Errorf("decoded %+v %v", c, err)
	}
	for _, bad := range [][]byte{{0x9b}, {0x9a, 0, 0, 0, 0, 1, 0}, {0x9b, 60, 0, 0, 0, 1, 0}, {0x9b, 0, 0, 0, 0, 3, 0}, {0x9b, 0, 0, 0, 0, 0, 0}, {0x9b, 0, 0, 12, 0, 1, 0}} {
		if _, err := DecodeClock(bad); err == nil {
			t.Errorf("DecodeClock(% x) accepted", bad)
		}
	}
}

func TestInfo(t *testing.T) {
	// protocol.txt 9, byte by byte: battery timer FFFF (cold start),
	// 12 s, 61 min (= 1:01 past an odd hour), hours/2 = 7 (so 15:01:12),
	// year day 10, Monday (bit 1), house A (6) high nibble and firmware 8
	// low, addressed mask: unit 1 (code 6, bit 6), on mask: units 1 and 2
	// (codes 6 and E: bits 6 and 14), dim mask: none.
	b := []byte{0xff, 0xff, 12, 61, 7, 10, 0x02, 0x68, 0x40, 0x00, 0x40, 0x40, 0x00, 0x00}
	in, err := DecodeInfo(b)
	if err != nil {
		t.Fatal(err)
	}
	if in.BatteryTimer != 0xffff || in.Clock.Hour != 15 || in.Clock.Minute != 1 || in.Clock.Second != 12 ||
		in.Clock.YearDay != 10 || in.Clock.Weekday != time.Monday || in.House != 'A' || in.Firmware != 8 ||
		in.Addressed != 0x0001 || in.OnOff != 0x0003 || in.DimmedUnits != 0 {
		t.Fatalf("%+v", in)
	}
	if got := EncodeInfo(in); !bytes.Equal(got, b) {
		t.Errorf("EncodeInfo: % x, want % x", got, b)
	}
	if _, err := DecodeInfo(b[:13]); err == nil {
		t.Error("13 bytes accepted")
	}
}

func TestLevels(t *testing.T) {
	for s := 0; s <= MaxDims; s++ {
		if got := StepOf(LevelOf(s)); got != s {
			t.Errorf("step %d -> level %d -> step %d", s, LevelOf(s), got)
		}
	}
	if LevelOf(MaxDims) != 255 || LevelOf(0) != 0 || StepOf(255) != MaxDims || StepOf(0) != 0 {
		t.Error("ends do not map to ends")
	}
	if StepOf(5) != 0 || StepOf(6) != 1 { // 255/22/2 = 5.8
		t.Errorf("rounding near zero: %d %d", StepOf(5), StepOf(6))
	}
	// 0x58/210 of 22 steps is 9.2: 9 steps.
	if StepsOfAmount(0x58) != 9 || StepsOfAmount(210) != 22 || AmountOfSteps(22) != 210 {
		t.Error("amount conversions")
	}
}

func TestLineCycles(t *testing.T) {
	a, _ := FunctionFrame('A', On, 0)
	d, _ := FunctionFrame('A', Dim, 10)
	d1, _ := FunctionFrame('A', Dim, 1)
	for _, tc := range []struct {
		f    []byte
		want int
	}{{AddressFrame(Addr{'A', 1}), 25}, {a, 25}, {d, 113}, {d1, 25}, {ExtendedFrame(Addr{'A', 1}, 0, 0), 65}} {
		if got := LineCycles(tc.f); got != tc.want {
			t.Errorf("LineCycles(% x) = %d, want %d", tc.f, got, tc.want)
		}
	}
	// Address + function: 50 cycles, 0.833 s at 60 Hz.
	if got := time.Duration(LineCycles(AddressFrame(Addr{'A', 1}))+LineCycles(a)) * CycleTime(60); got.Round(time.Millisecond) != 833*time.Millisecond {
		t.Errorf("A1 on: %v", got)
	}
	if ByteTime.Round(time.Microsecond) != 2083*time.Microsecond {
		t.Errorf("ByteTime %v", ByteTime)
	}
}

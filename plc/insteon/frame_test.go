package insteon

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

func hx(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Flags bytes as the Modem Developer's Guide (2242-222) and INSTEON: The
// Details spell them: bits 7-5 type, bit 4 extended, 3-2 hops left, 1-0
// max hops.
func TestFlags(t *testing.T) {
	for _, c := range []struct {
		b byte
		f Flags
	}{
		{0x0F, Flags{Direct, false, 3, 3}},          // a direct standard message, 3 hops
		{0x1F, Flags{Direct, true, 3, 3}},           // a direct extended message
		{0x2B, Flags{DirectACK, false, 2, 3}},       // an ACK heard after one hop
		{0xA3, Flags{DirectNAK, false, 0, 3}},       // a NAK
		{0xCB, Flags{GroupBroadcast, false, 2, 3}},  // an ALL-Link broadcast, one hop in
		{0xC7, Flags{GroupBroadcast, false, 1, 3}},  // its next repeat
		{0x41, Flags{GroupCleanup, false, 0, 1}},    // a cleanup, max hops 1
		{0x61, Flags{GroupCleanupACK, false, 0, 1}}, // its ACK
		{0x8F, Flags{Broadcast, false, 3, 3}},       // SET-button broadcast
		{0xE0, Flags{GroupCleanupNAK, false, 0, 0}},
	} {
		if got := DecodeFlags(c.b); got != c.f {
			t.Errorf("DecodeFlags(%02X) = %+v, want %+v", c.b, got, c.f)
		}
		if got := c.f.Byte(); got != c.b {
			t.Errorf("%+v.Byte() = %02X, want %02X", c.f, got, c.b)
		}
	}
	for b := 0; b < 256; b++ {
		if got := DecodeFlags(byte(b)).Byte(); got != byte(b) {
			t.Fatalf("flags %02X round-trips to %02X", b, got)
		}
	}
}

// The extended checksum (D14) is the two's complement of cmd1+cmd2+D1..D13.
func TestChecksum(t *testing.T) {
	for _, c := range []struct {
		frame string
	}{
		// Read operating flags (2E 00, D1 = 01): sum 0x2F, checksum 0xD1.
		{"02 62 1A 2B 3C 1F 2E 00 01 00 00 00 00 00 00 00 00 00 00 00 00 D1"},
		// Read ALDB (2F 00), D2=00 read, D3-D4 = 0FFF start, D5 = 01 record: sum 0x140.
		{"02 62 1A 2B 3C 1F 2F 00 00 00 0F FF 01 00 00 00 00 00 00 00 00 C2"},
		// All zero data, cmd 0x00 0x00: checksum 0.
		{"02 62 1A 2B 3C 1F 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00"},
	} {
		raw := hx(t, c.frame)
		m, err := DecodeSend(raw)
		if err != nil {
			t.Fatal(err)
		}
		if !m.ChecksumOK() {
			t.Errorf("%s: checksum %02X, want %02X", c.frame, m.Data[13], Checksum(m.Cmd1, m.Cmd2, m.Data[:13]))
		}
		m.Data[13] = 0x55
		m.SetChecksum()
		if got := EncodeSend(m); !bytes.Equal(got, raw) {
			t.Errorf("EncodeSend = % X, want % X", got, raw)
		}
	}
	if got := Checksum(0x2F, 0x00, []byte{0, 0, 0x0F, 0xFF, 0x01}); got != 0xC2 {
		t.Fatalf("Checksum = %02X, want C2", got)
	}
}

func TestEncoders(t *testing.T) {
	to := Address{0x1A, 0x2B, 0x3C}
	for _, c := range []struct {
		name string
		got  []byte
		want string
	}{
		{"on full", EncodeSend(Message{To: to, Flags: Flags{Direct, false, 3, 3}, Cmd1: CmdOn, Cmd2: 0xFF}), "02 62 1A 2B 3C 0F 11 FF"},
		{"off", EncodeSend(Message{To: to, Flags: Flags{Direct, false, 3, 3}, Cmd1: CmdOff}), "02 62 1A 2B 3C 0F 13 00"},
		{"status", EncodeSend(Message{To: to, Flags: Flags{Direct, false, 1, 1}, Cmd1: CmdStatusRequest}), "02 62 1A 2B 3C 05 19 00"},
		{"scene on", EncodeSendAllLink(3, CmdOn, 0), "02 61 03 11 00"},
		{"start linking", EncodeStartLinking(LinkEither, 1), "02 64 03 01"},
		{"set config", EncodeSetConfig(ConfigDisableAutoLink | ConfigMonitorMode), "02 6B C0"},
		{"add responder", EncodeManageLink(ManageAddResponder, LinkRecord{Flags: 0xA2, Group: 1, Address: to, Data: [3]byte{0xFF, 0x1F, 0x01}}), "02 6F 41 A2 01 1A 2B 3C FF 1F 01"},
		{"received ack", EncodeReceived(Message{From: to, To: Address{0x44, 0x85, 0x11}, Flags: Flags{DirectACK, false, 2, 3}, Cmd1: CmdOn, Cmd2: 0xFF}), "02 50 1A 2B 3C 44 85 11 2B 11 FF"},
		{"im info", EncodeIMInfo(IMInfo{Address{0x44, 0x85, 0x11}, 0x03, 0x15, 0x9B}), "02 60 44 85 11 03 15 9B 06"},
		{"config echo", EncodeConfigEcho(ConfigMonitorMode), "02 73 40 00 00 06"},
		{"link record", EncodeLinkRecord(LinkRecord{Flags: 0xE2, Group: 1, Address: to, Data: [3]byte{1, 0x20, 0x41}}), "02 57 E2 01 1A 2B 3C 01 20 41"},
		{"linking completed", EncodeLinkingCompleted(LinkingCompleted{LinkAsController, 1, to, 0x01, 0x20, 0x41}), "02 53 01 01 1A 2B 3C 01 20 41"},
		{"cleanup status nak", EncodeCleanupStatus(false), "02 58 15"},
		{"cleanup failure", EncodeCleanupFailure(3, to), "02 56 01 03 1A 2B 3C"},
		{"echo nak", Echo([]byte{STX, CmdGetFirstLink}, false), "02 69 15"},
	} {
		if want := hx(t, c.want); !bytes.Equal(c.got, want) {
			t.Errorf("%s: % X, want % X", c.name, c.got, want)
		}
	}
}

func TestDecoders(t *testing.T) {
	m, err := DecodeReceived(hx(t, "02 50 1A 2B 3C 00 00 01 CB 11 00"))
	if err != nil {
		t.Fatal(err)
	}
	if m.From != (Address{0x1A, 0x2B, 0x3C}) || m.Flags.Type != GroupBroadcast || m.Group() != 1 || m.Cmd1 != CmdOn || m.Flags.HopsLeft != 2 {
		t.Fatalf("decoded %v", m)
	}
	m, err = DecodeReceived(hx(t, "02 50 1A 2B 3C 44 85 11 41 13 02"))
	if err != nil || m.Flags.Type != GroupCleanup || m.Group() != 2 || m.Cmd1 != CmdOff {
		t.Fatalf("cleanup decoded %v %v", m, err)
	}
	m, err = DecodeReceived(hx(t, "02 51 1A 2B 3C 44 85 11 11 2E 00 01 01 00 00 00 00 00 00 00 00 00 00 00 D0"))
	if err != nil || !m.Flags.Extended || m.Data[13] != 0xD0 || !m.ChecksumOK() {
		t.Fatalf("extended decoded %v %v ok=%v", m, err, m.ChecksumOK())
	}
	if _, err := DecodeReceived(hx(t, "02 50 1A 2B 3C 44 85 11 1F 11 00")); err == nil {
		t.Fatal("a 0x50 frame with the extended flag set decoded without error")
	}
	info, err := DecodeIMInfo(hx(t, "02 60 44 85 11 03 15 9B 06"))
	if err != nil || info.Address.String() != "44.85.11" || info.Category != 3 || info.Subcat != 0x15 || info.Firmware != 0x9B {
		t.Fatalf("im info %+v %v", info, err)
	}
	r, err := DecodeLinkRecord(hx(t, "02 57 A2 01 1A 2B 3C FF 1F 01"))
	if err != nil || r.Controller() || r.Group != 1 || r.Flags&LinkInUse == 0 || r.Data != [3]byte{0xFF, 0x1F, 0x01} {
		t.Fatalf("link record %v %v", r, err)
	}
	code, r2, err := DecodeManageLink(hx(t, "02 6F 40 E2 01 1A 2B 3C 01 20 41 06"))
	if err != nil || code != ManageAddController || !r2.Controller() {
		t.Fatalf("manage %v %v %v", code, r2, err)
	}
	c, err := DecodeConfig(hx(t, "02 73 C0 00 00 06"))
	if err != nil || c != ConfigDisableAutoLink|ConfigMonitorMode {
		t.Fatalf("config %v %v", c, err)
	}
	l, err := DecodeLinkingCompleted(hx(t, "02 53 00 01 1A 2B 3C 02 2A 43"))
	if err != nil || l.Code != LinkAsResponder || l.Category != 2 {
		t.Fatalf("linking completed %+v %v", l, err)
	}
	g, a, err := DecodeCleanupFailure(hx(t, "02 56 01 03 1A 2B 3C"))
	if err != nil || g != 3 || a.String() != "1A.2B.3C" {
		t.Fatalf("cleanup failure %v %v %v", g, a, err)
	}
}

func TestParseAddress(t *testing.T) {
	for _, s := range []string{"1A.2B.3C", "1a.2b.3c", "1A2B3C", " 1A 2B 3C "} {
		a, err := ParseAddress(s)
		if err != nil || a != (Address{0x1A, 0x2B, 0x3C}) || a.String() != "1A.2B.3C" {
			t.Errorf("ParseAddress(%q) = %v, %v", s, a, err)
		}
	}
	for _, s := range []string{"", "1A.2B", "1A.2B.3G", "A1", "1A.2B.3C.4D"} {
		if _, err := ParseAddress(s); err == nil {
			t.Errorf("ParseAddress(%q) accepted", s)
		}
	}
}

type unit struct {
	kind Kind
	hex  string
}

func parseAll(p *Parser, chunks ...[]byte) []unit {
	var out []unit
	for _, c := range chunks {
		p.Feed(c)
		for {
			f, ok := p.Next()
			if !ok {
				break
			}
			out = append(out, unit{f.Kind, f.Hex()})
		}
	}
	return out
}

func TestParserModemSide(t *testing.T) {
	stream := hx(t, "0262 1A2B3C 0F 11FF 06"+ // echo of an On
		"0250 1A2B3C 448511 2B 11FF"+ // the device's ACK
		"15"+ // the modem was busy
		"FF 00 13"+ // line noise
		"0258 15"+ // cleanup status NAK: a result, not busy
		"025C 15 33"+ // a command byte this parser does not know: skipped whole
		"0269 15"+ // empty ALDB
		"0262 1A2B3C 1F 2E00 0100000000000000000000000 0D1 06") // extended echo
	want := []unit{
		{KindFrame, "02621A2B3C0F11FF06"},
		{KindFrame, "02501A2B3C4485112B11FF"},
		{KindBusy, "15"},
		{KindGarbage, "FF0013"},
		{KindFrame, "025815"},
		{KindGarbage, "025C1533"},
		{KindFrame, "026915"},
		{KindFrame, "02621A2B3C1F2E0001000000000000000000000000D106"},
	}
	check := func(name string, got []unit) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: got %v, want %v", name, got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%s: unit %d = %v, want %v", name, i, got[i], want[i])
			}
		}
	}
	// All in one read.
	check("one read", parseAll(NewParser(FromModem), stream))
	// One byte per read: frames split across reads. A lone NAK can only be
	// told from the NAK in 02 58 15 by position, so splitting must not
	// change it.
	var chunks [][]byte
	for i := range stream {
		chunks = append(chunks, stream[i:i+1])
	}
	got := parseAll(NewParser(FromModem), chunks...)
	// Byte-at-a-time garbage comes out one unit per byte-run it saw;
	// merge adjacent garbage to compare.
	check("byte by byte", mergeGarbage(got))
}

func mergeGarbage(in []unit) []unit {
	var out []unit
	for _, u := range in {
		if n := len(out); n > 0 && u.kind == KindGarbage && out[n-1].kind == KindGarbage {
			out[n-1].hex += u.hex
			continue
		}
		out = append(out, u)
	}
	return out
}

// An echo that lost bytes (a serial overrun) does not swallow the frame
// after it: the parser checks the echo's last byte and resyncs on STX.
func TestParserOverrun(t *testing.T) {
	got := parseAll(NewParser(FromModem), hx(t, "0262 1A2B3C 0F 11 0250 1A2B3C 448511 2B 11FF"))
	want := []unit{{KindGarbage, "02621A2B3C0F11"}, {KindFrame, "02501A2B3C4485112B11FF"}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("got %v, want %v", got, want)
	}
	// A partial frame that never completes is given up by Flush.
	p := NewParser(FromModem)
	p.Feed(hx(t, "0250 1A2B"))
	if _, ok := p.Next(); ok {
		t.Fatal("partial frame returned")
	}
	f, ok := p.Flush()
	if !ok || f.Kind != KindGarbage || f.Hex() != "02501A2B" || p.Pending() != 0 {
		t.Fatalf("Flush = %v %v, pending %d", f, ok, p.Pending())
	}
	// A flood without STX is dropped in bounded units.
	p.Feed(bytes.Repeat([]byte{0xAA}, 1000))
	n := 0
	for {
		f, ok := p.Next()
		if !ok {
			break
		}
		if len(f.Raw) > maxGarbage {
			t.Fatalf("garbage unit of %d bytes", len(f.Raw))
		}
		n += len(f.Raw)
	}
	if n != 1000 || p.Pending() != 0 {
		t.Fatalf("dropped %d of 1000, pending %d", n, p.Pending())
	}
}

func TestParserHostSide(t *testing.T) {
	got := parseAll(NewParser(FromHost), hx(t, "0260 0262 1A2B3C 0F 1380 15 026F 41 A2 01 1A2B3C FF1F01 0273"))
	want := []unit{{KindFrame, "0260"}, {KindFrame, "02621A2B3C0F1380"}, {KindGarbage, "15"},
		{KindFrame, "026F41A2011A2B3CFF1F01"}, {KindFrame, "0273"}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("unit %d = %v, want %v", i, got[i], want[i])
		}
	}
}

func fuzzParser(f *testing.F, dir Direction, seeds ...string) {
	for _, s := range seeds {
		f.Add(hx(f, s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, data []byte, split uint8) {
		p := NewParser(dir)
		total := 0
		step := int(split%16) + 1
		for i := 0; i < len(data); i += step {
			end := min(i+step, len(data))
			p.Feed(data[i:end])
			for {
				fr, ok := p.Next()
				if !ok {
					break
				}
				if len(fr.Raw) == 0 {
					t.Fatal("empty unit")
				}
				total += len(fr.Raw)
				if fr.Kind == KindFrame {
					// Every decoder takes every frame without panicking.
					if m, err := DecodeReceived(fr.Raw); err == nil {
						DecodeALDB(m)
					}
					if m, err := DecodeSend(fr.Raw); err == nil {
						DecodeALDB(m)
					}
					DecodeIMInfo(fr.Raw)
					DecodeLinkRecord(fr.Raw)
					DecodeManageLink(fr.Raw)
					DecodeConfig(fr.Raw)
					DecodeLinkingCompleted(fr.Raw)
					DecodeCleanupFailure(fr.Raw)
					if fr.Raw[0] != STX {
						t.Fatalf("frame without STX: % X", fr.Raw)
					}
				}
			}
			if p.Pending() > 25+maxGarbage {
				t.Fatalf("parser holds %d bytes", p.Pending())
			}
		}
		if fr, ok := p.Flush(); ok {
			total += len(fr.Raw)
		}
		if total != len(data) {
			t.Fatalf("accounted for %d of %d bytes", total, len(data))
		}
	})
}

func FuzzParseModem(f *testing.F) {
	fuzzParser(f, FromModem,
		"02621A2B3C0F11FF06 02501A2B3C4485112B11FF 15 025815",
		"02621A2B3C1F2E000100000000000000000000000000D106",
		"02511A2B3C4485111F2E000100000000000000000000000000D1",
		"026044851103159B06 0273C0000006 0257A2011A2B3CFF1F01 0269 15",
		"0253010 11A2B3C012041 025601031A2B3C 026F41A2011A2B3CFF1F0106",
		"02621A2B 02501A2B3C", "FFFF02", "025C15")
}

func FuzzParseHost(f *testing.F) {
	fuzzParser(f, FromHost,
		"0260 02621A2B3C0F11FF 0273 026B40 0269 026A",
		"02621A2B3C1F2E000100000000000000000000000000D1",
		"026F41A2011A2B3CFF1F01 02610311 00 026403 01 0265", "0215", "02")
}

func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{"1A.2B.3C", "1a2b3c", "", "zz.zz.zz", "1A.2B.3C.4D"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddress(s)
		if err != nil {
			return
		}
		b, err := ParseAddress(a.String())
		if err != nil || b != a {
			t.Fatalf("%q -> %v does not round-trip: %v %v", s, a, b, err)
		}
	})
}

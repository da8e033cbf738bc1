package insteon

import (
	"bytes"
	"testing"
)

// Frames of Enter Linking Mode (0x09) and Read/Write ALDB (0x2F), laid out
// as the INSTEON command tables give them (ENTER_LINKING_MODE: extended,
// cmd2 the group; READ_WRITE_ALDB: D2 the action, D3-D4 the address, D5
// the count, D6-D13 the record) with the D14 checksum of the i2CS
// documents: the two's complement of cmd1+cmd2+D1..D13.
func TestALDBFrames(t *testing.T) {
	dev := Address{0x1A, 0x2B, 0x3C}
	modem := Address{0x44, 0x85, 0x11}
	hops := func(m Message) Message { m.Flags.HopsLeft, m.Flags.MaxHops = 3, 3; return m }
	resp := LinkRecord{Flags: 0xA2, Group: 3, Address: modem, Data: [3]byte{0xFF, DefaultRamp, 0x01}}
	for _, c := range []struct {
		name string
		got  []byte
		want string
	}{
		// 09 01: sum 0x0A, checksum 0xF6.
		{"enter linking group 1", EncodeSend(hops(EnterLinkingMsg(dev, 1))), "02 62 1A 2B 3C 1F 09 01 00 00 00 00 00 00 00 00 00 00 00 00 00 F6"},
		{"enter linking group 3", EncodeSend(hops(EnterLinkingMsg(dev, 3))), "02 62 1A 2B 3C 1F 09 03 00 00 00 00 00 00 00 00 00 00 00 00 00 F4"},
		// Read one record at 0FFF: sum 0x13E, checksum 0xC2.
		{"read first record", EncodeSend(hops(ALDBReadMsg(dev, ALDBFirst, 1))), "02 62 1A 2B 3C 1F 2F 00 00 00 0F FF 01 00 00 00 00 00 00 00 00 C2"},
		// Read all: sum 0x2F, checksum 0xD1.
		{"read all", EncodeSend(hops(ALDBReadMsg(dev, 0, 0))), "02 62 1A 2B 3C 1F 2F 00 00 00 00 00 00 00 00 00 00 00 00 00 00 D1"},
		// Write a responder record of group 3 of the modem, on level FF,
		// ramp 1C, button 1, at 0FFF.
		{"write record", EncodeSend(hops(ALDBWriteMsg(dev, ALDBFirst, resp))), "02 62 1A 2B 3C 1F 2F 00 00 02 0F FF 08 A2 03 44 85 11 FF 1C 01 1E"},
		// The same record marked unused (bit 7 clear).
		{"write unused", EncodeSend(hops(ALDBWriteMsg(dev, ALDBFirst, LinkRecord{Flags: 0x22, Group: 3, Address: modem, Data: [3]byte{0xFF, DefaultRamp, 0x01}}))), "02 62 1A 2B 3C 1F 2F 00 00 02 0F FF 08 22 03 44 85 11 FF 1C 01 9E"},
		// The device's answer: D2 = 01, the record in D6-D13.
		{"record answer", EncodeReceived(func() Message {
			m := ALDBRecordMsg(dev, modem, ALDBFirst, resp)
			m.Flags.MaxHops = 1
			return m
		}()), "02 51 1A 2B 3C 44 85 11 11 2F 00 00 01 0F FF 00 A2 03 44 85 11 FF 1C 01 27"},
	} {
		if want := hx(t, c.want); !bytes.Equal(c.got, want) {
			t.Errorf("%s: % X, want % X", c.name, c.got, want)
		}
	}

	m, err := DecodeReceived(hx(t, "02 51 1A 2B 3C 44 85 11 11 2F 00 00 01 0F F7 00 E2 01 44 85 11 01 20 41 AB"))
	if err != nil {
		t.Fatal(err)
	}
	op, err := DecodeALDB(m)
	if err != nil {
		t.Fatal(err)
	}
	want := LinkRecord{Flags: 0xE2, Group: 1, Address: modem, Data: [3]byte{0x01, 0x20, 0x41}}
	if op.Action != ALDBRecord || op.At != 0x0FF7 || op.Record != want || !op.Record.Controller() || !op.Record.InUse() || op.Record.End() {
		t.Fatalf("decoded %+v", op)
	}
	w, err := DecodeSend(hx(t, "02 62 1A 2B 3C 1F 2F 00 00 02 0F FF 08 A2 03 44 85 11 FF 1C 01 1E"))
	if err != nil {
		t.Fatal(err)
	}
	if op, err := DecodeALDB(w); err != nil || op.Action != ALDBWrite || op.At != ALDBFirst || op.Record != resp {
		t.Fatalf("write decoded %+v %v", op, err)
	}
	// A wrong checksum, a short write and an unknown action are refused.
	w.Data[13]++
	if _, err := DecodeALDB(w); err == nil {
		t.Fatal("a bad checksum decoded")
	}
	w.Data[4] = 7
	w.SetChecksum()
	if _, err := DecodeALDB(w); err == nil {
		t.Fatal("a 7-byte write decoded")
	}
	w.Data[1], w.Data[4] = 0x05, 8
	w.SetChecksum()
	if _, err := DecodeALDB(w); err == nil {
		t.Fatal("action 05 decoded")
	}
	if (LinkRecord{}).End() != true || (LinkRecord{Flags: 0x22}).InUse() {
		t.Fatal("an empty record must end the database, an unused one must not be in use")
	}
}

// FuzzDecodeALDB: any extended 0x51 frame decodes or errs, and a decoded
// record encodes back to the same message.
func FuzzDecodeALDB(f *testing.F) {
	for _, s := range []string{
		"02 51 1A 2B 3C 44 85 11 11 2F 00 00 01 0F F7 00 E2 01 44 85 11 01 20 41 AB",
		"02 51 1A 2B 3C 44 85 11 11 2F 00 00 01 0F FF 00 A2 03 44 85 11 FF 1C 01 27",
		"02 51 1A 2B 3C 44 85 11 11 2F 00 00 02 0F FF 08 A2 03 44 85 11 FF 1C 01 1E",
		"02 51 1A 2B 3C 44 85 11 11 2F 00 00 00 0F FF 01 00 00 00 00 00 00 00 00 C2",
		"02 51 1A 2B 3C 44 85 11 11 09 01 00 00 00 00 00 00 00 00 00 00 00 00 00 F6",
	} {
		f.Add(hx(f, s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := DecodeReceived(raw)
		if err != nil {
			return
		}
		op, err := DecodeALDB(m)
		if err != nil {
			return
		}
		if op.Action == ALDBRecord {
			back := ALDBRecordMsg(m.From, m.To, op.At, op.Record)
			back.Data[4] = m.Data[4]
			back.Data[0] = m.Data[0]
			back.Cmd2 = m.Cmd2
			back.SetChecksum()
			if back.Data != m.Data {
				t.Fatalf("record %+v re-encodes to % X, from % X", op, back.Data, m.Data)
			}
		}
	})
}

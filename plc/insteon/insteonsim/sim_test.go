package insteonsim

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"oepc.dev/oepcos/plc/insteon"
	"oepc.dev/oepcos/plc/plctest"
)

func hx(t *testing.T, s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// host is a hand-written host end: raw bytes on the pty, no driver.
func host(t *testing.T, devs ...Device) (*Sim, *os.File) {
	master, path := plctest.PTY(t)
	sim := New(Config{})
	for _, d := range devs {
		sim.Add(d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go sim.Serve(ctx, master)
	h, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return sim, h
}

func expect(t *testing.T, r io.Reader, want []byte) time.Time {
	t.Helper()
	got := make([]byte, len(want))
	done := make(chan error, 1)
	go func() { _, err := io.ReadFull(r, got); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("nothing read, want % X", want)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read % X, want % X", got, want)
	}
	return time.Now()
}

// A direct On with max hops 3 to a lamp the modem hears directly: the echo
// at once, the ACK no sooner than the power line allows (4 timeslots for
// the message, 1 for the ACK).
func TestDirectExchangeBytesAndTiming(t *testing.T) {
	lamp := insteon.Address{0x1A, 0x2B, 0x3C}
	sim, h := host(t, Device{Address: lamp, Kind: Lamp})
	start := time.Now()
	h.Write(hx(t, "02 62 1A2B3C 0F 11 FF"))
	expect(t, h, hx(t, "02 62 1A2B3C 0F 11 FF 06"))
	ackAt := expect(t, h, hx(t, "02 50 1A2B3C 448511 20 11 FF"))
	if least := 5*StandardSlot + 19*ByteTime; ackAt.Sub(start) < least {
		t.Fatalf("ACK after %v, faster than the power line allows (%v)", ackAt.Sub(start), least)
	}
	if l, _ := sim.Level(lamp); l != 0xFF {
		t.Fatalf("lamp at %d", l)
	}
	// Status: cmd1 is the ALDB delta, cmd2 the level.
	h.Write(hx(t, "02 62 1A2B3C 05 19 00"))
	expect(t, h, hx(t, "02 62 1A2B3C 05 19 00 06"))
	expect(t, h, hx(t, "02 50 1A2B3C 448511 20 00 FF"))
	// While the power line carries a message the modem NAKs a new one.
	h.Write(hx(t, "02 62 1A2B3C 0F 13 00"))
	h.Write(hx(t, "02 62 1A2B3C 0F 11 80"))
	expect(t, h, hx(t, "02 62 1A2B3C 0F 13 00 06"))
	expect(t, h, hx(t, "02 62 1A2B3C 0F 11 80 15"))
	expect(t, h, hx(t, "02 50 1A2B3C 448511 20 13 00"))
	// An extended message with a wrong checksum: the device NAKs with FD.
	h.Write(hx(t, "02 62 1A2B3C 1F 2E 00 01 00 00 00 00 00 00 00 00 00 00 00 00 00"))
	expect(t, h, hx(t, "02 62 1A2B3C 1F 2E 00 01 00 00 00 00 00 00 00 00 00 00 00 00 00 06"))
	expect(t, h, hx(t, "02 50 1A2B3C 448511 A0 2E FD"))
}

// A press two hops away: copies with hops left 1 and 0 one timeslot apart,
// then the cleanup.
func TestPressCopies(t *testing.T) {
	sw := insteon.Address{0x3C, 0x4D, 0x5E}
	sim, h := host(t, Device{Address: sw, Kind: Switch, Hops: 2})
	// Serve must be running before a press: wait for it to answer.
	h.Write(hx(t, "02 60"))
	expect(t, h, hx(t, "02 60 448511 03 15 9E 06"))
	start := time.Now()
	if err := sim.Press(sw, 1, true); err != nil {
		t.Fatal(err)
	}
	// Lower bounds only (a loaded machine makes everything later, never
	// sooner): the copy with hops left 1 goes out in timeslot 3, the one
	// with 0 in timeslot 4, the cleanup 7 zero crossings after the
	// broadcast's 4 slots, plus its own 2.
	t1 := expect(t, h, hx(t, "02 50 3C4D5E 000001 C7 11 00"))
	t2 := expect(t, h, hx(t, "02 50 3C4D5E 000001 C3 11 00"))
	t3 := expect(t, h, hx(t, "02 50 3C4D5E 448511 41 11 01"))
	for i, c := range []struct {
		at    time.Time
		least time.Duration
	}{{t1, 3 * StandardSlot}, {t2, 4 * StandardSlot}, {t3, 6*StandardSlot + 7*ZeroCrossing60Hz}} {
		if d := c.at.Sub(start); d < c.least {
			t.Errorf("frame %d after %v, sooner than the power line allows (%v)", i, d, c.least)
		}
	}
	if l, _ := sim.Level(sw); l != 0xFF {
		t.Fatalf("switch at %d after its press", l)
	}
}

func TestALDBAndNoReset(t *testing.T) {
	sim, h := host(t)
	h.Write(hx(t, "02 69"))
	expect(t, h, hx(t, "02 69 15")) // empty
	h.Write(hx(t, "02 6F 41 A2 01 1A2B3C FF 1F 01"))
	expect(t, h, hx(t, "02 6F 41 A2 01 1A2B3C FF 1F 01 06"))
	h.Write(hx(t, "02 69"))
	expect(t, h, hx(t, "02 69 06"))
	expect(t, h, hx(t, "02 57 A2 01 1A2B3C FF 1F 01"))
	h.Write(hx(t, "02 6A"))
	expect(t, h, hx(t, "02 6A 15"))
	h.Write(hx(t, "02 6F 80 A2 09 1A2B3C 00 00 00"))
	expect(t, h, hx(t, "02 6F 80 A2 09 1A2B3C 00 00 00 15")) // no such record
	if sim.ALDBWrites() != 1 || len(sim.Links()) != 1 {
		t.Fatalf("writes %d links %v", sim.ALDBWrites(), sim.Links())
	}
}

// Linking by Enter Linking Mode and the device's database by Read/Write
// ALDB, byte by byte: the modem in linking mode as controller of group 3,
// the lamp told 0x09 (extended) ACKs, sends its SET broadcast, and the
// modem reports 0x53; its responder record is read (D2 = 01 in the answer)
// and rewritten with another on level. No answer comes sooner than the
// power line allows.
func TestEnterLinkingAndALDBBytes(t *testing.T) {
	lamp := insteon.Address{0x1A, 0x2B, 0x3C}
	sim, h := host(t, Device{Address: lamp, Kind: Lamp})
	h.Write(hx(t, "02 64 01 03"))
	expect(t, h, hx(t, "02 64 01 03 06"))
	start := time.Now()
	h.Write(hx(t, "02 62 1A2B3C 1F 09 03 00 00 00 00 00 00 00 00 00 00 00 00 00 F4"))
	expect(t, h, hx(t, "02 62 1A2B3C 1F 09 03 00 00 00 00 00 00 00 00 00 00 00 00 00 F4 06"))
	expect(t, h, hx(t, "02 50 1A2B3C 448511 20 09 03"))
	expect(t, h, hx(t, "02 50 1A2B3C 010E41 8F 01 03"))
	doneAt := expect(t, h, hx(t, "02 53 01 03 1A2B3C 01 0E 41"))
	if least := 4*ExtendedSlot + 5*StandardSlot; doneAt.Sub(start) < least {
		t.Fatalf("linked after %v, faster than the power line (%v)", doneAt.Sub(start), least)
	}
	if l := sim.Links(); len(l) != 1 || !l[0].Controller() || l[0].Group != 3 || l[0].Address != lamp {
		t.Fatalf("modem's database %v", l)
	}

	start = time.Now()
	h.Write(hx(t, "02 62 1A2B3C 1F 2F 00 00 00 0F FF 01 00 00 00 00 00 00 00 00 C2"))
	expect(t, h, hx(t, "02 62 1A2B3C 1F 2F 00 00 00 0F FF 01 00 00 00 00 00 00 00 00 C2 06"))
	expect(t, h, hx(t, "02 50 1A2B3C 448511 20 2F 00"))
	recAt := expect(t, h, hx(t, "02 51 1A2B3C 448511 10 2F 00 00 01 0F FF 00 A2 03 448511 FF 1C 01 27"))
	if least := 5*ExtendedSlot + StandardSlot; recAt.Sub(start) < least {
		t.Fatalf("record after %v, faster than the power line (%v)", recAt.Sub(start), least)
	}
	// The next record is the high-water mark: all zero.
	h.Write(hx(t, "02 62 1A2B3C 1F 2F 00 00 00 0F F7 01 00 00 00 00 00 00 00 00 CA"))
	expect(t, h, hx(t, "02 62 1A2B3C 1F 2F 00 00 00 0F F7 01 00 00 00 00 00 00 00 00 CA 06"))
	expect(t, h, hx(t, "02 50 1A2B3C 448511 20 2F 00"))
	expect(t, h, hx(t, "02 51 1A2B3C 448511 10 2F 00 00 01 0F F7 00 00 00 00 00 00 00 00 00 CA"))
	// Write the on level 0x80.
	h.Write(hx(t, "02 62 1A2B3C 1F 2F 00 00 02 0F FF 08 A2 03 448511 80 1C 01 9D"))
	expect(t, h, hx(t, "02 62 1A2B3C 1F 2F 00 00 02 0F FF 08 A2 03 448511 80 1C 01 9D 06"))
	expect(t, h, hx(t, "02 50 1A2B3C 448511 20 2F 00"))
	if l := sim.DeviceLinks(lamp); len(l) != 1 || l[0].Data[0] != 0x80 {
		t.Fatalf("lamp's database %v", l)
	}
	// Not a record's address: NAK, illegal value.
	h.Write(hx(t, "02 62 1A2B3C 1F 2F 00 00 02 0F FE 08 A2 03 448511 80 1C 01 9E"))
	expect(t, h, hx(t, "02 62 1A2B3C 1F 2F 00 00 02 0F FE 08 A2 03 448511 80 1C 01 9E 06"))
	expect(t, h, hx(t, "02 50 1A2B3C 448511 A0 2F FB"))
	// The group fires the lamp at its record's level.
	h.Write(hx(t, "02 61 03 11 00"))
	expect(t, h, hx(t, "02 61 03 11 00 06"))
	expect(t, h, hx(t, "02 58 06"))
	if l, _ := sim.Level(lamp); l != 0x80 {
		t.Fatalf("lamp at %02X after the group, want 80", l)
	}
}

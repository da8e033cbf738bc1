package x10sim

import (
	"bytes"
	"context"
	"io"
	"os"
	"syscall"
	"testing"
	"time"

	"oepc.dev/oepcos/plc/plctest"
	"oepc.dev/oepcos/plc/x10"
)

// The simulator checked byte by byte against protocol.txt's examples,
// with no driver in between: a host end written by hand.

func open(t *testing.T, cfg Config) (*Sim, *os.File) {
	t.Helper()
	ptmx, path := plctest.PTY(t)
	sim := New(ptmx, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	go sim.Run(ctx)
	t.Cleanup(cancel)
	host, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Close() })
	return sim, host
}

func expect(t *testing.T, r *os.File, want ...byte) {
	t.Helper()
	got := make([]byte, len(want))
	r.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(r, got); err != nil {
		t.Fatalf("want % x: %v (got % x)", want, err, got)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("got % x, want % x", got, want)
	}
}

// expectUpload reads an upload after 0xC3, skipping polls the simulator
// repeated before it saw the 0xC3 (it polls once a second, scaled).
func expectUpload(t *testing.T, r *os.File, want ...byte) {
	t.Helper()
	expectAfter(t, r, 0x5a, want...)
}

// expectAfter reads want, skipping leading repeats of the poll byte poll.
func expectAfter(t *testing.T, r *os.File, poll byte, want ...byte) {
	t.Helper()
	one := make([]byte, 1)
	r.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, err := io.ReadFull(r, one); err != nil {
			t.Fatal(err)
		}
		if one[0] != poll {
			break
		}
	}
	if one[0] != want[0] {
		t.Fatalf("upload starts %02x, want %02x", one[0], want[0])
	}
	expect(t, r, want[1:]...)
}

func TestHandshakeAsInProtocolTxt(t *testing.T) {
	a1, a2 := x10.Addr{House: 'A', Unit: 1}, x10.Addr{House: 'A', Unit: 2}
	sim, host := open(t, Config{Speed: 50, Devices: []Device{{Addr: a1, Kind: Lamp}, {Addr: a2, Kind: Lamp}}})
	// protocol.txt 3.1.4, with the wrong checksum the example shows.
	host.Write([]byte{0x04, 0x66})
	expect(t, host, 0x6a)
	host.Write([]byte{0x00})
	expect(t, host, 0x55)
	host.Write([]byte{0x04, 0x6e})
	expect(t, host, 0x72)
	host.Write([]byte{0x00})
	expect(t, host, 0x55)
	sim.Inject(Fault{WrongChecksum: 1})
	host.Write([]byte{0x86, 0x64})
	expect(t, host, 0xeb) // wrong: the host sends the frame again
	host.Write([]byte{0x86, 0x64})
	expect(t, host, 0xea)
	host.Write([]byte{0x00})
	expect(t, host, 0x55)
	// A1 and A2 were addressed; Dim 16 from off: full, then down 16.
	for _, a := range []x10.Addr{a1, a2} {
		if l, _ := sim.Level(a); l != x10.LevelOf(6) {
			t.Errorf("%s at %d, want %d", a, l, x10.LevelOf(6))
		}
	}
}

func TestPollAndUpload(t *testing.T) {
	b6, b7 := x10.Addr{House: 'B', Unit: 6}, x10.Addr{House: 'B', Unit: 7}
	sim, host := open(t, Config{Speed: 50, Devices: []Device{{Addr: b6, Kind: Lamp}, {Addr: b7, Kind: WallSwitch}}})
	// protocol.txt 4.6: B6 B7 B Bright 0x58 (with the size byte counted
	// from the mask).
	if err := sim.Send([]x10.Item{{Addr: b6}, {Addr: b7}, {IsFunction: true, House: 'B', Func: x10.Bright, DimAmount: 0x58}}); err != nil {
		t.Fatal(err)
	}
	expect(t, host, 0x5a)
	// While it polls, a host frame is ignored and it polls again.
	host.Write([]byte{0x04, 0x66})
	expect(t, host, 0x5a)
	host.Write([]byte{0xc3})
	expectUpload(t, host, 0x05, 0x04, 0xe9, 0xe5, 0xe5, 0x58)
}

func TestPowerFailWantsClock(t *testing.T) {
	sim, host := open(t, Config{Speed: 50, PowerFail: true})
	expect(t, host, 0xa5)
	host.Write([]byte{0x04, 0x66}) // ignored: it wants the clock first
	expect(t, host, 0xa5)
	f := x10.ClockFrame(time.Date(2024, 3, 5, 13, 45, 30, 0, time.UTC), 'A', 0)
	host.Write(f)
	expectAfter(t, host, 0xa5, 0x31)
	host.Write([]byte{0x00})
	expect(t, host, 0x55)
	if c, ok := sim.Clock(); !ok || c.Hour != 13 || c.Minute != 45 {
		t.Fatalf("clock %+v %v", c, ok)
	}
	host.Write([]byte{0x8b})
	got := make([]byte, x10.InfoLen)
	host.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(host, got); err != nil {
		t.Fatal(err)
	}
	in, err := x10.DecodeInfo(got)
	if err != nil || in.BatteryTimer != 0 || in.Clock.Hour != 13 || in.Clock.YearDay != 64 {
		t.Fatalf("info %+v %v", in, err)
	}
}

func TestOverrun(t *testing.T) {
	var devs []Device
	var items []x10.Item
	for u := 1; u <= 9; u++ {
		a := x10.Addr{House: 'C', Unit: u}
		devs = append(devs, Device{Addr: a, Kind: Appliance})
		items = append(items, x10.Item{Addr: a})
	}
	sim, host := open(t, Config{Speed: 50, Devices: devs})
	if err := sim.Send(items); err != nil {
		t.Fatal(err)
	}
	expect(t, host, 0x5a)
	host.Write([]byte{0xc3})
	// Eight addresses kept, the ninth lost.
	expectUpload(t, host, 0x09, 0x00, 0x26, 0x2e, 0x22, 0x2a, 0x21, 0x29, 0x25, 0x2d)
	if sim.Overruns() != 1 {
		t.Fatalf("overruns %d", sim.Overruns())
	}
}

package hometest

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"oepc.dev/oepcos/plc/insteon"
	"oepc.dev/oepcos/plc/insteon/insteonsim"
	"oepc.dev/oepcos/plc/plctest"
)

// The simulated devices InsteonLine puts on its power line.
var (
	LampA   = insteon.Address{0x1A, 0x2B, 0x3C} // a lamp module, next to the modem
	DimmerB = insteon.Address{0x2B, 0x3C, 0x4D} // a wall dimmer
	SwitchC = insteon.Address{0x3C, 0x4D, 0x5E} // a relay switch two hops away
	KeypadD = insteon.Address{0x4D, 0x5E, 0x6F} // a keypad one hop away
)

// InsteonLine is a simulated PowerLinc Modem with devices on a real
// pseudo-terminal, reached through a by-id style symlink as udev names a
// USB modem.
type InsteonLine struct {
	Sim  *insteonsim.Sim
	Link string // the path homed opens
}

// NewInsteonLine serves a simulated modem with LampA, DimmerB, SwitchC and
// KeypadD on a pseudo-terminal linked from dir; it stops when t ends.
func NewInsteonLine(t testing.TB, dir string, cfg insteonsim.Config) *InsteonLine {
	t.Helper()
	sim := insteonsim.New(cfg)
	sim.Add(insteonsim.Device{Address: LampA, Kind: insteonsim.Lamp})
	sim.Add(insteonsim.Device{Address: DimmerB, Kind: insteonsim.Dimmer})
	sim.Add(insteonsim.Device{Address: SwitchC, Kind: insteonsim.Switch, Hops: 2})
	sim.Add(insteonsim.Device{Address: KeypadD, Kind: insteonsim.Keypad, Hops: 1})
	master, path := plctest.PTY(t)
	link := filepath.Join(dir, "usb-Insteon_PowerLinc_Modem-if00")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	// Serve a non-blocking duplicate of the controlling end (as plc/insteon's
	// tests do): Close then ends a Read in progress.
	fd, err := unix.Dup(int(master.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		t.Fatal(err)
	}
	pollable := os.NewFile(uintptr(fd), "ptmx")
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- sim.Serve(ctx, pollable) }()
	t.Cleanup(func() { cancel(); pollable.Close(); <-served })
	return &InsteonLine{Sim: sim, Link: link}
}

// Level is a simulated device's level on the line.
func (l *InsteonLine) Level(t testing.TB, a insteon.Address) int {
	t.Helper()
	v, ok := l.Sim.Level(a)
	if !ok {
		t.Fatalf("no simulated device %s", a)
	}
	return int(v)
}

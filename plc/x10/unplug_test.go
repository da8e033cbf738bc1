package x10_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"oepc.dev/oepcos/plc"
	"oepc.dev/oepcos/plc/plctest"
	"oepc.dev/oepcos/plc/serialport"
	"oepc.dev/oepcos/plc/x10"
	"oepc.dev/oepcos/plc/x10/x10sim"
)

// plugSim puts a simulated CM11A on a fresh pty and links it under dir as
// udev links a USB serial adapter under /dev/serial/by-id/.
func plugSim(t *testing.T, dir, name string, sc x10sim.Config) (*x10sim.Sim, func()) {
	t.Helper()
	ptmx, path := plctest.PTY(t)
	if err := os.Symlink(path, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
	sc.Devices, sc.Speed = devices(), speed
	sim := x10sim.New(ptmx, sc)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { sim.Run(ctx); close(done) }()
	unplug := func() {
		cancel()
		ptmx.Close()
		os.Remove(filepath.Join(dir, name))
		<-done
	}
	t.Cleanup(unplug)
	return sim, unplug
}

// The interface unplugged and plugged back in (under another by-id name,
// and asking for the clock as after a power cut): commands fail fast and
// clearly while it is away, the driver does not wedge, and commands work
// again once serialport has found it.
func TestUnplugAndPlugBack(t *testing.T) {
	dir := t.TempDir()
	sim1, unplug := plugSim(t, dir, "usb-X10_CM11A_1-if00", x10sim.Config{})
	port, err := serialport.Open(serialport.Config{Path: filepath.Join(dir, "usb-X10_CM11A_1-if00"), Baud: x10.BaudRate,
		Patterns: []string{filepath.Join(dir, "*")}, ReadTimeout: 20 * time.Millisecond,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, Logger: testConfig(t).Logger})
	if err != nil {
		t.Fatal(err)
	}
	m := x10.New(port, testConfig(t))
	defer m.Close()
	ctx := ctxT(t)
	if err := m.On(ctx, addr(a1)); err != nil {
		t.Fatal(err)
	}
	wantLevel(t, sim1, a1, 255)

	unplug()
	start := time.Now()
	err = m.Off(ctx, addr(a1))
	if err == nil || !errors.Is(err, serialport.ErrUnplugged) && !errors.Is(err, plc.ErrNoAnswer) {
		t.Fatalf("while unplugged: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("a command while unplugged took %v", d)
	}

	sim2, _ := plugSim(t, dir, "usb-X10_CM11A_2-if00", x10sim.Config{PowerFail: true})
	deadline := time.Now().Add(8 * time.Second)
	for {
		err := m.Off(ctx, addr(a1))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not back after plugging in: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	wantLevel(t, sim2, a1, 0)
	if _, ok := sim2.Clock(); !ok {
		t.Fatal("the new interface did not get its clock")
	}
	if s := m.Stats(); s.ReadErrors < 1 || s.PowerFails < 1 {
		t.Fatalf("%+v", s)
	}
}

// Open: the path given, through serialport, at 4800 baud.
func TestOpen(t *testing.T) {
	dir := t.TempDir()
	sim, _ := plugSim(t, dir, "usb-X10_CM11A-if00", x10sim.Config{})
	m, err := x10.Open(filepath.Join(dir, "usb-X10_CM11A-if00"), testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.On(ctxT(t), addr(a4)); err != nil {
		t.Fatal(err)
	}
	wantLevel(t, sim, a4, 255)
	// (A missing path is not tried here: Open would then look under
	// /dev/serial/by-id/ and /dev/ttyUSB*, the test machine's own devices.)
}

package insteon_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"oepc.dev/oepcos/plc"
	"oepc.dev/oepcos/plc/insteon"
	"oepc.dev/oepcos/plc/insteon/insteonsim"
)

// faultCfg: short timeouts, so the no-answer faults cost little test time.
var faultCfg = insteon.Config{EchoTimeout: 300 * time.Millisecond, ReplyTimeout: 800 * time.Millisecond}

// onAndCheck switches the lamp on and off again and checks the sim's state.
func onAndCheck(t *testing.T, r *rig, what string) {
	t.Helper()
	ctx := ctxT(t, 10*time.Second)
	if err := r.modem.On(ctx, addr(lampA)); err != nil {
		t.Fatalf("%s: on: %v", what, err)
	}
	if l := level(t, r, lampA); l != 255 {
		t.Fatalf("%s: lamp at %d after on", what, l)
	}
	if st, err := r.modem.Status(ctx, addr(lampA)); err != nil || st != 255 {
		t.Fatalf("%s: status %d %v", what, st, err)
	}
	if err := r.modem.Off(ctx, addr(lampA)); err != nil {
		t.Fatalf("%s: off: %v", what, err)
	}
	if l := level(t, r, lampA); l != 0 {
		t.Fatalf("%s: lamp at %d after off", what, l)
	}
}

func lamp() insteonsim.Device { return insteonsim.Device{Address: lampA, Kind: insteonsim.Lamp} }

// Frames split across reads (one byte per write) and several frames in one
// read.
func TestFaultSplitAndMerged(t *testing.T) {
	r := newRig(t, faultCfg, lamp(), insteonsim.Device{Address: switchC, Kind: insteonsim.Switch, Hops: 1})
	r.sim.Split(true)
	onAndCheck(t, r, "split")
	r.sim.Split(false)
	r.sim.Merge(true)
	onAndCheck(t, r, "merged")
	// Two events and a status answer's worth of frames in one write.
	r.sim.Merge(false)
	burst := append(insteon.EncodeReceived(insteon.Message{From: switchC, To: insteon.Address{0, 0, 1},
		Flags: insteon.Flags{Type: insteon.GroupBroadcast, HopsLeft: 3, MaxHops: 3}, Cmd1: insteon.CmdOn}),
		insteon.EncodeReceived(insteon.Message{From: keypadD, To: insteon.Address{0, 0, 4},
			Flags: insteon.Flags{Type: insteon.GroupBroadcast, HopsLeft: 3, MaxHops: 3}, Cmd1: insteon.CmdOff})...)
	drain(r.modem)
	r.sim.Inject(burst)
	for i, want := range []plc.Address{addr(switchC), addr(keypadD)} {
		e, ok := waitEvent(t, r.modem, 2*time.Second)
		if !ok || e.Address != want {
			t.Fatalf("event %d from one read: %+v %v", i, e, ok)
		}
	}
}

func drain(m *insteon.Modem) {
	for {
		select {
		case <-m.Events():
		default:
			return
		}
	}
}

// Garbage between frames, including an unknown frame whose payload is a
// 0x15: nothing is taken for "busy", events and commands go on.
func TestFaultGarbage(t *testing.T) {
	r := newRig(t, faultCfg, lamp(), insteonsim.Device{Address: switchC, Kind: insteonsim.Switch})
	r.sim.Inject([]byte{0xFF, 0x00, 0x13, 0x02, 0x5C, 0x15, 0x33})
	onAndCheck(t, r, "after garbage")
	drain(r.modem)
	r.sim.Inject([]byte{0xAA, 0x55, 0x06})
	r.sim.Press(switchC, 1, true)
	if e, ok := waitEvent(t, r.modem, 2*time.Second); !ok || e.Address != addr(switchC) {
		t.Fatalf("event after garbage: %+v %v", e, ok)
	}
	// A flood of garbage does not wedge the queue.
	flood := make([]byte, 600)
	for i := range flood {
		flood[i] = byte(i*7 + 1) // no STX at frame starts: 0x02 is rare but allowed
		if flood[i] == insteon.STX {
			flood[i] = 0x03
		}
	}
	r.sim.Inject(flood)
	// 600 bytes take 312 ms at 19200 baud; a command sent meanwhile waits
	// behind them for its echo (and may give up: the line was full).
	time.Sleep(time.Duration(len(flood))*insteonsim.ByteTime + 200*time.Millisecond)
	onAndCheck(t, r, "after a flood")
}

// The modem says busy: a lone NAK, or an echo ending in NAK. The command is
// sent again with backoff; after the cap it fails with ErrBusy, and the
// queue is not wedged.
func TestFaultBusyNAK(t *testing.T) {
	r := newRig(t, faultCfg, lamp())
	before := r.sim.Count(insteon.CmdSend)
	r.sim.BusyNext(2)
	onAndCheck(t, r, "lone NAK")
	if n := r.sim.Count(insteon.CmdSend) - before; n != 5 {
		t.Fatalf("0x62 sent %d times, want 5 (2 busy + on, status, off)", n)
	}
	r.sim.NAKNext(3)
	onAndCheck(t, r, "echo NAK")
	r.sim.BusyNext(1000)
	start := time.Now()
	err := r.modem.On(ctxT(t, 20*time.Second), addr(lampA))
	if !errors.Is(err, insteon.ErrBusy) {
		t.Fatalf("always busy: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("gave up after %v", d)
	}
	r.sim.BusyNext(0)
	onAndCheck(t, r, "after giving up")
}

// No answer: the modem stays silent once (an idempotent command is sent
// again), a device is unplugged (plc.ErrNoAnswer, bounded), then back.
func TestFaultNoAnswer(t *testing.T) {
	r := newRig(t, faultCfg, lamp())
	r.sim.SilentNext(1)
	if _, err := r.modem.Info(ctxT(t, 5*time.Second)); err != nil {
		t.Fatalf("info after one silent command: %v", err)
	}
	r.sim.SetMissing(lampA, true)
	start := time.Now()
	err := r.modem.On(ctxT(t, 10*time.Second), addr(lampA))
	if !errors.Is(err, plc.ErrNoAnswer) || !strings.Contains(err.Error(), lampA.String()) {
		t.Fatalf("missing device: %v", err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Fatalf("no answer took %v", d)
	}
	// The caller's deadline wins over the driver's timeouts.
	start = time.Now()
	err = r.modem.On(ctxT(t, 300*time.Millisecond), addr(lampA))
	if !errors.Is(err, plc.ErrNoAnswer) || time.Since(start) > time.Second {
		t.Fatalf("deadline: %v after %v", err, time.Since(start))
	}
	r.sim.SetMissing(lampA, false)
	time.Sleep(500 * time.Millisecond) // the line carries the last message
	onAndCheck(t, r, "device back")
}

// A buffer overrun: bytes of the modem's echo are lost. The parser
// resyncs, the command is sent again, and the device ends up on.
func TestFaultOverrun(t *testing.T) {
	r := newRig(t, faultCfg, lamp())
	r.sim.DropNext(4)
	onAndCheck(t, r, "overrun")
	// And lost bytes in a device's ACK: the command is retried.
	r.sim.DropInNextACK(3)
	onAndCheck(t, r, "overrun in an ack")
}

// The modem is unplugged and plugged back in under another name: commands
// fail fast while it is away, and work again once the port finds it.
func TestFaultUnplug(t *testing.T) {
	r := newRig(t, faultCfg, lamp())
	ctx := ctxT(t, 10*time.Second)
	if err := r.modem.Dim(ctx, addr(lampA), 77); err != nil {
		t.Fatal(err)
	}
	r.unplug()
	start := time.Now()
	var err error
	for time.Since(start) < 3*time.Second {
		if err = r.modem.On(ctxT(t, 2*time.Second), addr(lampA)); err != nil {
			break
		}
	}
	if !errors.Is(err, plc.ErrNoAnswer) || !strings.Contains(err.Error(), "unplugged") {
		t.Fatalf("while unplugged: %v", err)
	}
	r.plugIn("usb-Insteon_PowerLinc_B-if00")
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := r.modem.Status(ctxT(t, 3*time.Second), addr(lampA))
		if err == nil {
			if st != 77 {
				t.Fatalf("status after replug %d, want 77", st)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("modem not back after replug: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r.port.Reconnects() != 1 || !strings.HasSuffix(r.port.Path(), "PowerLinc_B-if00") {
		t.Fatalf("reconnects %d path %s", r.port.Reconnects(), r.port.Path())
	}
	onAndCheck(t, r, "after replug")
}

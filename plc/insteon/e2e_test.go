package insteon_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"oepc.dev/oepcos/plc"
	"oepc.dev/oepcos/plc/insteon"
	"oepc.dev/oepcos/plc/insteon/insteonsim"
	"oepc.dev/oepcos/plc/plctest"
	"oepc.dev/oepcos/plc/serialport"

	"golang.org/x/sys/unix"
)

var (
	lampA   = insteon.Address{0x1A, 0x2B, 0x3C}
	dimmerB = insteon.Address{0x2B, 0x3C, 0x4D}
	switchC = insteon.Address{0x3C, 0x4D, 0x5E}
	keypadD = insteon.Address{0x4D, 0x5E, 0x6F}
)

func addr(a insteon.Address) plc.Address { return plc.Address(a.String()) }

type tWriter struct {
	t    testing.TB
	mu   *sync.Mutex
	done *bool
}

func (w tWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !*w.done {
		w.t.Log(strings.TrimSpace(string(b)))
	}
	return len(b), nil
}

func testLogger(t testing.TB) *slog.Logger {
	mu, done := &sync.Mutex{}, new(bool)
	t.Cleanup(func() { mu.Lock(); *done = true; mu.Unlock() })
	return slog.New(slog.NewTextHandler(tWriter{t, mu, done}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// rig: a simulated modem on a pseudo-terminal, found through a by-id
// style symlink, driven through serialport by the driver.
type rig struct {
	t      testing.TB
	sim    *insteonsim.Sim
	modem  *insteon.Modem
	port   *serialport.Port
	dir    string
	link   string
	master *os.File
	// pollable: the non-blocking duplicate of master the sim serves.
	pollable *os.File
	ctx      context.Context
	served   chan error
}

func newRig(t testing.TB, cfg insteon.Config, devs ...insteonsim.Device) *rig {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &rig{t: t, sim: insteonsim.New(insteonsim.Config{Logger: testLogger(t).With("side", "sim")}), dir: t.TempDir(), ctx: ctx}
	for _, d := range devs {
		r.sim.Add(d)
	}
	r.plugIn("usb-Insteon_PowerLinc_A-if00")
	port, err := serialport.Open(serialport.Config{Path: r.link, Baud: insteon.Baud, Patterns: []string{filepath.Join(r.dir, "*")},
		ReadTimeout: 50 * time.Millisecond, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		Logger: testLogger(t).With("side", "port")})
	if err != nil {
		t.Fatal(err)
	}
	r.port = port
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t).With("side", "driver")
	}
	r.modem = insteon.New(port, cfg)
	if _, err := r.modem.Info(ctxT(t, 5*time.Second)); err != nil {
		t.Fatalf("the simulated modem does not answer: %v", err)
	}
	t.Cleanup(func() {
		r.modem.Close()
		cancel()
		if r.served != nil {
			<-r.served
		}
	})
	return r
}

// plugIn makes a new pseudo-terminal, links name to it as udev would under
// /dev/serial/by-id/, and serves the simulated modem on it.
func (r *rig) plugIn(name string) {
	master, path := plctest.PTY(r.t)
	r.link = filepath.Join(r.dir, name)
	if err := os.Symlink(path, r.link); err != nil {
		r.t.Fatal(err)
	}
	// creack/pty leaves the controlling end in blocking mode, where Close
	// does not end a Read in progress (and so never hangs the line up).
	// Serve a non-blocking duplicate, which the runtime poller can
	// interrupt; unplug closes both.
	fd, err := unix.Dup(int(master.Fd()))
	if err != nil {
		r.t.Fatal(err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		r.t.Fatal(err)
	}
	pollable := os.NewFile(uintptr(fd), "ptmx")
	r.t.Cleanup(func() { pollable.Close() })
	r.master, r.pollable = master, pollable
	served := make(chan error, 1)
	r.served = served
	go func() { served <- r.sim.Serve(r.ctx, pollable) }()
}

// unplug closes the modem's end of the line: its node disappears, as a
// USB adapter's does.
func (r *rig) unplug() {
	r.pollable.Close()
	r.master.Close()
	os.Remove(r.link)
	<-r.served
	r.served = nil
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func level(t *testing.T, r *rig, a insteon.Address) byte {
	t.Helper()
	l, ok := r.sim.Level(a)
	if !ok {
		t.Fatalf("no device %s", a)
	}
	return l
}

func TestInfoAndConfig(t *testing.T) {
	r := newRig(t, insteon.Config{})
	ctx := ctxT(t, 10*time.Second)
	info, err := r.modem.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Address != r.sim.Address() || info.Category != 0x03 {
		t.Fatalf("info %+v", info)
	}
	if err := r.modem.SetConfig(ctx, insteon.ConfigDisableAutoLink|insteon.ConfigMonitorMode); err != nil {
		t.Fatal(err)
	}
	c, err := r.modem.GetConfig(ctx)
	if err != nil || c != insteon.ConfigDisableAutoLink|insteon.ConfigMonitorMode {
		t.Fatalf("config %v %v", c, err)
	}
}

func TestOnOffDimStatus(t *testing.T) {
	r := newRig(t, insteon.Config{}, insteonsim.Device{Address: lampA, Kind: insteonsim.Lamp},
		insteonsim.Device{Address: switchC, Kind: insteonsim.Switch, Hops: 1})
	ctx := ctxT(t, 20*time.Second)
	m := r.modem
	steps := []struct {
		name string
		do   func() error
		want byte
	}{
		{"on", func() error { return m.On(ctx, addr(lampA)) }, 255},
		{"dim", func() error { return m.Dim(ctx, addr(lampA), 128) }, 128},
		{"off", func() error { return m.Off(ctx, addr(lampA)) }, 0},
		{"fast on", func() error { return m.FastOn(ctx, addr(lampA)) }, 255},
		{"dim 0", func() error { return m.Dim(ctx, addr(lampA), 0) }, 0},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := level(t, r, lampA); got != s.want {
			t.Fatalf("%s: lamp at %d, want %d", s.name, got, s.want)
		}
		st, err := m.Status(ctx, addr(lampA))
		if err != nil || byte(st) != s.want {
			t.Fatalf("%s: status %d, %v; want %d", s.name, st, err, s.want)
		}
		select {
		case e := <-m.Events():
			if e.Kind != plc.EventState || e.Address != addr(lampA) || byte(e.Level) != s.want {
				t.Fatalf("%s: event %+v", s.name, e)
			}
		case <-time.After(time.Second):
			t.Fatalf("%s: no state event", s.name)
		}
	}
	// However the caller spells the address, the event spells it 1A.2B.3C.
	if err := m.On(ctx, "1a2b3c"); err != nil {
		t.Fatal(err)
	}
	if e, ok := waitEvent(t, m, time.Second); !ok || e.Address != "1A.2B.3C" {
		t.Fatalf("event for 1a2b3c: %+v %v", e, ok)
	}
	// A relay switch one hop away: dim means on.
	if err := m.Dim(ctx, addr(switchC), 30); err != nil {
		t.Fatal(err)
	}
	if got := level(t, r, switchC); got != 255 {
		t.Fatalf("switch at %d", got)
	}
	if err := m.Ping(ctx, addr(switchC)); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Status(ctx, "1A.2B"); !errors.Is(err, plc.ErrBadAddress) {
		t.Fatalf("bad address: %v", err)
	}
	// An extended message carries its checksum; the device checks it.
	ack, err := m.Send(ctx, insteon.Message{To: lampA, Flags: insteon.Flags{Extended: true}, Cmd1: 0x2E, Data: [14]byte{0x01}})
	if err != nil || ack.Flags.Type != insteon.DirectACK {
		t.Fatalf("extended: %v %v", ack, err)
	}
	if r.sim.Resets() != 0 {
		t.Fatal("driver reset the modem")
	}
}

func waitEvent(t *testing.T, m *insteon.Modem, d time.Duration) (plc.Event, bool) {
	t.Helper()
	select {
	case e := <-m.Events():
		return e, true
	case <-time.After(d):
		return plc.Event{}, false
	}
}

// TestPressOverHops: a switch pressed by hand two hops away is heard as
// two copies of its broadcast (hops left 1, then 0) and its cleanup: one
// event. The same press again after the window is a second event.
func TestPressOverHops(t *testing.T) {
	var frames []string
	var mu sync.Mutex
	r := newRig(t, insteon.Config{OnFrame: func(f insteon.Frame) {
		mu.Lock()
		frames = append(frames, f.Hex())
		mu.Unlock()
	}}, insteonsim.Device{Address: switchC, Kind: insteonsim.Switch, Hops: 2},
		insteonsim.Device{Address: keypadD, Kind: insteonsim.Keypad})
	for press := 1; press <= 2; press++ {
		if err := r.sim.Press(switchC, 1, true); err != nil {
			t.Fatal(err)
		}
		e, ok := waitEvent(t, r.modem, 2*time.Second)
		if !ok {
			t.Fatalf("press %d: no event", press)
		}
		if e.Kind != plc.EventState || e.Address != addr(switchC) || e.Level != 255 || e.Group != 1 {
			t.Fatalf("press %d: event %+v", press, e)
		}
		if e, ok := waitEvent(t, r.modem, 800*time.Millisecond); ok {
			t.Fatalf("press %d: a second event for one press: %+v", press, e)
		}
	}
	mu.Lock()
	got := strings.Join(frames, " ")
	mu.Unlock()
	// Two presses, each heard as 2 broadcast copies and 1 cleanup.
	if n := strings.Count(got, "02503C4D5E000001C711"); n != 2 {
		t.Errorf("copies with hops left 1: %d in %s", n, got)
	}
	if n := strings.Count(got, "02503C4D5E000001C311"); n != 2 {
		t.Errorf("copies with hops left 0: %d in %s", n, got)
	}
	if n := strings.Count(got, "02503C4D5E4485114111"); n != 2 {
		t.Errorf("cleanups: %d in %s", n, got)
	}
	// A keypad button other than 1 is a button event.
	r.sim.Press(keypadD, 3, true)
	e, ok := waitEvent(t, r.modem, 2*time.Second)
	if !ok || e.Kind != plc.EventButton || e.Group != 3 {
		t.Fatalf("keypad: %+v %v", e, ok)
	}
	if e, ok := waitEvent(t, r.modem, 600*time.Millisecond); ok {
		t.Fatalf("keypad: second event %+v", e)
	}
	// Off, then on again soon after its cleanup: two events.
	r.sim.Press(switchC, 1, false)
	if e, ok := waitEvent(t, r.modem, 2*time.Second); !ok || e.Level != 0 {
		t.Fatalf("off press: %+v %v", e, ok)
	}
	time.Sleep(500 * time.Millisecond)
	r.sim.Press(switchC, 1, true)
	if e, ok := waitEvent(t, r.modem, 2*time.Second); !ok || e.Level != 255 {
		t.Fatalf("on press after off: %+v %v", e, ok)
	}
}

func TestScene(t *testing.T) {
	r := newRig(t, insteon.Config{SceneTimeout: 4 * time.Second},
		insteonsim.Device{Address: lampA, Kind: insteonsim.Lamp},
		insteonsim.Device{Address: dimmerB, Kind: insteonsim.Dimmer, Hops: 1},
		insteonsim.Device{Address: keypadD, Kind: insteonsim.Keypad})
	r.sim.LinkScene(5, map[insteon.Address]byte{lampA: 255, dimmerB: 128})
	ctx := ctxT(t, 30*time.Second)
	if _, err := r.modem.Scene(ctx, 5, true); err != nil {
		t.Fatal(err)
	}
	if a, b, d := level(t, r, lampA), level(t, r, dimmerB), level(t, r, keypadD); a != 255 || b != 128 || d != 0 {
		t.Fatalf("after scene on: %d %d %d", a, b, d)
	}
	if st, err := r.modem.Status(ctx, addr(dimmerB)); err != nil || st != 128 {
		t.Fatalf("status of a member: %d %v", st, err)
	}
	if _, err := r.modem.Scene(ctx, 5, false); err != nil {
		t.Fatal(err)
	}
	if a, b := level(t, r, lampA), level(t, r, dimmerB); a != 0 || b != 0 {
		t.Fatalf("after scene off: %d %d", a, b)
	}
	// A member that does not answer its cleanup: reported, not retried.
	r.sim.SetMissing(dimmerB, true)
	before := r.sim.Count(insteon.CmdSendAllLink)
	res, err := r.modem.Scene(ctx, 5, true)
	if !errors.Is(err, insteon.ErrCleanup) || len(res.Failed) != 1 || res.Failed[0] != dimmerB {
		t.Fatalf("missing member: %v %+v", err, res)
	}
	if level(t, r, lampA) != 255 {
		t.Fatal("the answering member did not follow")
	}
	// Cleanups interrupted: 02 58 15 is a result, not a busy modem.
	r.sim.SetMissing(dimmerB, false)
	r.sim.InterruptNextScene()
	if _, err := r.modem.Scene(ctx, 5, false); !errors.Is(err, insteon.ErrCleanup) {
		t.Fatalf("interrupted: %v", err)
	}
	if n := r.sim.Count(insteon.CmdSendAllLink) - before; n != 2 {
		t.Fatalf("0x61 sent %d times for 2 scenes: a 0x58 NAK was retried", n)
	}
}

func TestALDB(t *testing.T) {
	var backups [][]insteon.LinkRecord
	var backupErr error
	r := newRig(t, insteon.Config{Backup: func(recs []insteon.LinkRecord) error {
		if backupErr != nil {
			return backupErr
		}
		backups = append(backups, recs)
		return nil
	}}, insteonsim.Device{Address: lampA, Kind: insteonsim.Lamp},
		insteonsim.Device{Address: dimmerB, Kind: insteonsim.Dimmer})
	r.sim.LinkScene(1, map[insteon.Address]byte{lampA: 255, dimmerB: 200})
	ctx := ctxT(t, 20*time.Second)
	links, err := r.modem.Links(ctx)
	if err != nil || len(links) != 2 {
		t.Fatalf("links %v %v", links, err)
	}
	rec := insteon.LinkRecord{Group: 0, Address: keypadD, Data: [3]byte{1, 0x41, 0x41}}
	if err := r.modem.AddLink(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if got := r.sim.Links(); len(got) != 3 || got[2].Address != keypadD || got[2].Controller() {
		t.Fatalf("sim ALDB %v", got)
	}
	if len(backups) != 1 || len(backups[0]) != 2 || len(r.modem.LastBackup()) != 2 {
		t.Fatalf("backups %v", backups)
	}
	if r.sim.ALDBWrites() != 1 || r.sim.Resets() != 0 {
		t.Fatalf("writes %d resets %d: the database must change by one record, never be wiped", r.sim.ALDBWrites(), r.sim.Resets())
	}
	// Adding it again changes nothing.
	if err := r.modem.AddLink(ctx, rec); err != nil || r.sim.ALDBWrites() != 1 {
		t.Fatalf("re-add: %v, writes %d", err, r.sim.ALDBWrites())
	}
	// Deleting a record that is not there: the 0x6F NAK is the answer.
	if err := r.modem.DeleteLink(ctx, insteon.LinkRecord{Group: 9, Address: keypadD}); !errors.Is(err, insteon.ErrNoRecord) {
		t.Fatalf("delete missing: %v", err)
	}
	if err := r.modem.DeleteLink(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if got := r.sim.Links(); len(got) != 2 {
		t.Fatalf("after delete %v", got)
	}
	// A failing backup stops the change.
	backupErr = errors.New("disk full")
	if err := r.modem.AddLink(ctx, rec); err == nil || !strings.Contains(err.Error(), "backup") {
		t.Fatalf("add with failing backup: %v", err)
	}
	if len(r.sim.Links()) != 2 {
		t.Fatal("changed the database without a backup")
	}
}

func TestLinking(t *testing.T) {
	r := newRig(t, insteon.Config{}, insteonsim.Device{Address: keypadD, Kind: insteonsim.Keypad})
	go func() {
		time.Sleep(300 * time.Millisecond)
		r.sim.PressSet(keypadD)
	}()
	l, err := r.modem.Link(ctxT(t, 10*time.Second), insteon.LinkAsController, 7)
	if err != nil || l.Address != keypadD || l.Group != 7 {
		t.Fatalf("link %+v %v", l, err)
	}
	// Nobody presses SET: the wait ends with the context and cancels.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := r.modem.Link(ctx, insteon.LinkEither, 8); !errors.Is(err, plc.ErrNoAnswer) {
		t.Fatalf("link without SET: %v", err)
	}
	if r.sim.Count(insteon.CmdCancelLinking) != 1 {
		t.Fatal("linking mode not cancelled")
	}
}

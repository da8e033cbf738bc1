package x10_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"oepc.dev/oepcos/plc"
	"oepc.dev/oepcos/plc/plctest"
	"oepc.dev/oepcos/plc/x10"
	"oepc.dev/oepcos/plc/x10/x10sim"
)

// speed is the simulator's time factor in tests: 1/20 of the real line
// time, so a command takes about 45 ms instead of 0.85 s.
const speed = 20

var (
	a1 = x10.Addr{House: 'A', Unit: 1} // lamp (one-way)
	a2 = x10.Addr{House: 'A', Unit: 2} // two-way lamp
	a3 = x10.Addr{House: 'A', Unit: 3} // wall switch
	a4 = x10.Addr{House: 'A', Unit: 4} // appliance
	g1 = x10.Addr{House: 'G', Unit: 1} // appliance whose address sums to 0x5A
)

func devices() []x10sim.Device {
	return []x10sim.Device{{Addr: a1, Kind: x10sim.Lamp}, {Addr: a2, Kind: x10sim.TwoWayLamp},
		{Addr: a3, Kind: x10sim.WallSwitch}, {Addr: a4, Kind: x10sim.Appliance}, {Addr: g1, Kind: x10sim.Appliance},
		{Addr: x10.Addr{House: 'A', Unit: 5}, Kind: x10sim.Lamp}, {Addr: x10.Addr{House: 'A', Unit: 6}, Kind: x10sim.Lamp}}
}

func testConfig(t testing.TB) x10.Config {
	return x10.Config{Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		ChecksumTimeout: 500 * time.Millisecond, ByteTimeout: 250 * time.Millisecond,
		ReadyTimeout: 2 * time.Second, StatusWait: time.Second}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(b))
	return len(b), nil
}

type rig struct {
	m   *x10.Modem
	sim *x10sim.Sim
}

// openPort opens the terminal end of the pty as the driver's serial port.
func openPort(t testing.TB, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// start runs a simulator on a pty and a driver on its other end; wrap, if
// set, wraps the driver's port.
func start(t testing.TB, sc x10sim.Config, mc x10.Config, wrap func(io.ReadWriteCloser) io.ReadWriteCloser) *rig {
	t.Helper()
	ptmx, path := plctest.PTY(t)
	if sc.Devices == nil {
		sc.Devices = devices()
	}
	if sc.Speed == 0 {
		sc.Speed = speed
	}
	sim := x10sim.New(ptmx, sc)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sim.Run(ctx) }()
	var port io.ReadWriteCloser = openPort(t, path)
	if wrap != nil {
		port = wrap(port)
	}
	m := x10.New(port, mc)
	t.Cleanup(func() {
		m.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("sim: %v", err)
		}
	})
	return &rig{m: m, sim: sim}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func addr(a x10.Addr) plc.Address { return plc.Address(a.String()) }

func wantLevel(t *testing.T, sim *x10sim.Sim, a x10.Addr, want plc.Level) {
	t.Helper()
	if got, _ := sim.Level(a); got != want {
		t.Fatalf("%s is at %d on the line, want %d", a, got, want)
	}
}

func TestOnOffDim(t *testing.T) {
	r := start(t, x10sim.Config{}, testConfig(t), nil)
	ctx := ctxT(t)
	if err := r.m.On(ctx, addr(a1)); err != nil {
		t.Fatal(err)
	}
	wantLevel(t, r.sim, a1, 255)
	if err := r.m.Off(ctx, addr(a1)); err != nil {
		t.Fatal(err)
	}
	wantLevel(t, r.sim, a1, 0)
	// From off, Dim to 50%: the lamp goes to full, then down 11 steps.
	n := len(r.sim.Sent())
	if err := r.m.Dim(ctx, addr(a1), 128); err != nil {
		t.Fatal(err)
	}
	wantLevel(t, r.sim, a1, x10.LevelOf(11))
	sent := r.sim.Sent()[n:]
	if len(sent) != 2 || sent[1][0] != 11<<3|0x06 || sent[1][1] != 0x64 {
		t.Fatalf("dim from off sent % x", sent)
	}
	// From a known level, only the difference: Bright 5.
	n = len(r.sim.Sent())
	if err := r.m.Dim(ctx, addr(a1), x10.LevelOf(16)); err != nil {
		t.Fatal(err)
	}
	wantLevel(t, r.sim, a1, x10.LevelOf(16))
	if sent := r.sim.Sent()[n:]; len(sent) != 2 || sent[1][0] != 5<<3|0x06 || sent[1][1] != 0x65 {
		t.Fatalf("bright 5 sent % x", sent)
	}
	if l, ok := r.m.Level(a1); !ok || l != x10.LevelOf(16) {
		t.Fatalf("driver tracks %d %v", l, ok)
	}
	// Unknown level (a new driver's view of A5, set by hand to 30%):
	// Bright 22 to saturate, then Dim down.
	a5 := x10.Addr{House: 'A', Unit: 5}
	r.sim.SetLevel(a5, 77)
	if err := r.m.Dim(ctx, addr(a5), x10.LevelOf(4)); err != nil {
		t.Fatal(err)
	}
	wantLevel(t, r.sim, a5, x10.LevelOf(4))
	// Dim to 0 is off; the appliance module ignores dims but takes on.
	if err := r.m.Dim(ctx, addr(a5), 0); err != nil {
		t.Fatal(err)
	}
	wantLevel(t, r.sim, a5, 0)
	if err := r.m.On(ctx, addr(a4)); err != nil {
		t.Fatal(err)
	}
	wantLevel(t, r.sim, a4, 255)
	if err := r.m.On(ctx, "Q7"); !errors.Is(err, plc.ErrBadAddress) {
		t.Fatalf("Q7: %v", err)
	}
	if s := r.m.Stats(); s.ChecksumRetries != 0 || s.Garbage != 0 {
		t.Errorf("clean line had faults: %+v", s)
	}
}

func TestStatus(t *testing.T) {
	r := start(t, x10sim.Config{}, testConfig(t), nil)
	ctx := ctxT(t)
	// Two-way module: its answer.
	r.sim.SetLevel(a2, 255)
	l, err := r.m.Status(ctx, addr(a2))
	if err != nil || l != 255 {
		t.Fatalf("two-way on: %d %v", l, err)
	}
	r.sim.SetLevel(a2, 0)
	if l, err := r.m.Status(ctx, addr(a2)); err != nil || l != 0 {
		t.Fatalf("two-way off: %d %v", l, err)
	}
	// One-way module: the last known level, marked unconfirmed.
	if err := r.m.On(ctx, addr(a1)); err != nil {
		t.Fatal(err)
	}
	l, err = r.m.Status(ctx, addr(a1))
	if l != 255 || !errors.Is(err, x10.ErrUnconfirmed) || !errors.Is(err, plc.ErrNoAnswer) {
		t.Fatalf("one-way: %d %v", l, err)
	}
	// Never seen: no level at all.
	if _, err := r.m.Status(ctx, addr(a4)); !errors.Is(err, plc.ErrNoAnswer) || errors.Is(err, x10.ErrUnconfirmed) {
		t.Fatalf("unknown: %v", err)
	}
}

func TestInfoAndExtended(t *testing.T) {
	r := start(t, x10sim.Config{}, testConfig(t), nil)
	ctx := ctxT(t)
	if err := r.m.On(ctx, addr(a1)); err != nil {
		t.Fatal(err)
	}
	// Extended preset dim (cmd 0x31) to 32/63 on the two-way lamp.
	if err := r.m.Extended(ctx, addr(a2), 32, 0x31); err != nil {
		t.Fatal(err)
	}
	if l, _ := r.sim.Level(a2); l < 125 || l > 135 {
		t.Fatalf("extended preset dim: A2 at %d", l)
	}
	in, err := r.m.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if in.House != 'A' || in.Firmware != 8 || in.OnOff&0x3 != 0x3 || in.DimmedUnits&0x2 == 0 {
		t.Fatalf("info %+v", in)
	}
}

// A switch pressed by hand reaches Events as one event, though its address
// and function may arrive in separate uploads.
func TestPressByHand(t *testing.T) {
	r := start(t, x10sim.Config{}, testConfig(t), nil)
	if err := r.sim.Press(a3, true); err != nil {
		t.Fatal(err)
	}
	ev := nextEvent(t, r.m, 2*time.Second)
	if ev.Address != "A3" || ev.Kind != plc.EventState || ev.Level != 255 || ev.Command != "on" {
		t.Fatalf("event %+v", ev)
	}
	noEvent(t, r.m, 200*time.Millisecond)
	if err := r.sim.Press(a3, false); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, r.m, 2*time.Second); ev.Address != "A3" || ev.Level != 0 {
		t.Fatalf("event %+v", ev)
	}
	noEvent(t, r.m, 200*time.Millisecond)
	if l, ok := r.m.Level(a3); !ok || l != 0 {
		t.Fatalf("driver tracks %d %v", l, ok)
	}
	// Split by hand across two uploads: still one event.
	if err := r.sim.Send([]x10.Item{{Addr: a3}}); err != nil {
		t.Fatal(err)
	}
	noEvent(t, r.m, 300*time.Millisecond)
	if err := r.sim.Send([]x10.Item{{IsFunction: true, House: 'A', Func: x10.On}}); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, r.m, 2*time.Second); ev.Address != "A3" || ev.Level != 255 {
		t.Fatalf("event %+v", ev)
	}
	noEvent(t, r.m, 200*time.Millisecond)
}

func nextEvent(t *testing.T, m *x10.Modem, d time.Duration) plc.Event {
	t.Helper()
	select {
	case ev := <-m.Events():
		return ev
	case <-time.After(d):
		t.Fatal("no event")
	}
	return plc.Event{}
}

func noEvent(t *testing.T, m *x10.Modem, d time.Duration) {
	t.Helper()
	select {
	case ev := <-m.Events():
		t.Fatalf("unexpected event %+v", ev)
	case <-time.After(d):
	}
}

// G1's address 04 56 sums to 0x5A, the poll byte. Plain, it works: the
// 0x5A is the checksum. When the interface starts polling just as the
// frame goes out, the poll is taken for the checksum, found out (no 0x55,
// another 0x5A), served, and the frame sent again.
func TestG1Checksum(t *testing.T) {
	r := start(t, x10sim.Config{}, testConfig(t), nil)
	ctx := ctxT(t)
	if err := r.m.On(ctx, addr(g1)); err != nil {
		t.Fatal(err)
	}
	wantLevel(t, r.sim, g1, 255)
	if s := r.m.Stats(); s.PollCollisions != 0 || s.Polls != 0 {
		t.Fatalf("plain G1: %+v", s)
	}
	r.sim.Inject(x10sim.Fault{PollOnNext: []x10.Item{{Addr: a3}, {IsFunction: true, House: 'A', Func: x10.On}}})
	if err := r.m.Off(ctx, addr(g1)); err != nil {
		t.Fatal(err)
	}
	wantLevel(t, r.sim, g1, 0)
	if s := r.m.Stats(); s.PollCollisions != 1 || s.Polls != 1 {
		t.Fatalf("collision: %+v", s)
	}
	if ev := nextEvent(t, r.m, time.Second); ev.Address != "A3" || ev.Level != 255 {
		t.Fatalf("the poll's upload: %+v", ev)
	}
	// The frames on the line: G1 once per command (the ignored one never
	// went out).
	var g1s int
	for _, f := range r.sim.Sent() {
		if len(f) == 2 && f[0] == 0x04 && f[1] == 0x56 {
			g1s++
		}
	}
	if g1s != 2 {
		t.Fatalf("G1 sent %d times", g1s)
	}
}

// A poll that crosses a frame whose checksum is not 0x5A is served, and the
// frame sent again.
func TestPollCrossesFrame(t *testing.T) {
	r := start(t, x10sim.Config{}, testConfig(t), nil)
	r.sim.Inject(x10sim.Fault{PollOnNext: []x10.Item{{Addr: a3}, {IsFunction: true, House: 'A', Func: x10.Off}}})
	if err := r.m.On(ctxT(t), addr(a1)); err != nil {
		t.Fatal(err)
	}
	wantLevel(t, r.sim, a1, 255)
	if ev := nextEvent(t, r.m, time.Second); ev.Address != "A3" || ev.Level != 0 {
		t.Fatalf("%+v", ev)
	}
	if s := r.m.Stats(); s.PollCollisions != 0 || s.Polls != 1 {
		t.Fatalf("%+v", s)
	}
}

func TestPowerFailClock(t *testing.T) {
	mc := testConfig(t)
	now := time.Date(2026, 12, 2, 13, 7, 42, 0, time.UTC) // a Wednesday
	mc.Now = func() time.Time { return now }
	r := start(t, x10sim.Config{PowerFail: true}, mc, nil)
	ctx := ctxT(t)
	// The interface takes nothing before its clock; the command waits
	// behind the power-fail poll and then goes through.
	if err := r.m.On(ctx, addr(a1)); err != nil {
		t.Fatal(err)
	}
	c, ok := r.sim.Clock()
	if !ok || c.Hour != 13 || c.Minute != 7 || c.Second != 42 || c.Weekday != time.Wednesday || c.YearDay != now.YearDay()-1 {
		t.Fatalf("clock %+v %v", c, ok)
	}
	if s := r.m.Stats(); s.PowerFails < 1 {
		t.Fatalf("%+v", s)
	}
	// Again later, as after another power cut.
	r.sim.PowerFail()
	deadline := time.Now().Add(2 * time.Second)
	for {
		if _, ok := r.sim.Clock(); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("clock not set after a second power failure")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := r.m.Off(ctx, addr(a1)); err != nil {
		t.Fatal(err)
	}
}

func TestWrongChecksum(t *testing.T) {
	r := start(t, x10sim.Config{}, testConfig(t), nil)
	r.sim.Inject(x10sim.Fault{WrongChecksum: 3})
	if err := r.m.On(ctxT(t), addr(a1)); err != nil {
		t.Fatal(err)
	}
	wantLevel(t, r.sim, a1, 255)
	if s := r.m.Stats(); s.ChecksumRetries != 3 {
		t.Fatalf("%+v", s)
	}
	// More wrong sums than Retries: a clear error, and the line still works.
	r.sim.Inject(x10sim.Fault{WrongChecksum: 100})
	if err := r.m.Off(ctxT(t), addr(a1)); !errors.Is(err, plc.ErrNoAnswer) {
		t.Fatalf("err %v", err)
	}
	r.sim.Inject(x10sim.Fault{})
	if err := r.m.Off(ctxT(t), addr(a1)); err != nil {
		t.Fatal(err)
	}
	wantLevel(t, r.sim, a1, 0)
}

func TestNoAnswer(t *testing.T) {
	mc := testConfig(t)
	mc.Retries = 2
	mc.ChecksumTimeout = 100 * time.Millisecond
	mc.ReadyTimeout = 300 * time.Millisecond
	r := start(t, x10sim.Config{}, mc, nil)
	ctx := ctxT(t)
	r.sim.Inject(x10sim.Fault{NoChecksum: 100})
	start := time.Now()
	if err := r.m.On(ctx, addr(a1)); !errors.Is(err, plc.ErrNoAnswer) {
		t.Fatalf("err %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("no answer took %v", d)
	}
	// Ready lost: the frame went out, the driver says it could not confirm.
	r.sim.Inject(x10sim.Fault{NoReady: 1})
	if err := r.m.On(ctx, addr(a1)); !errors.Is(err, plc.ErrNoAnswer) {
		t.Fatalf("no ready: %v", err)
	}
	if _, known := r.m.Level(a1); known {
		t.Fatal("level still known after a failed command")
	}
	// A caller's deadline is honoured too.
	r.sim.Inject(x10sim.Fault{NoChecksum: 100})
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := r.m.On(short, addr(a1)); !errors.Is(err, plc.ErrNoAnswer) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("deadline: %v", err)
	}
	r.sim.Inject(x10sim.Fault{})
	if err := r.m.Off(ctx, addr(a1)); err != nil {
		t.Fatal(err)
	}
	wantLevel(t, r.sim, a1, 0)
}

func TestGarbage(t *testing.T) {
	r := start(t, x10sim.Config{}, testConfig(t), nil)
	ctx := ctxT(t)
	// Before a checksum: taken as a wrong checksum, frame sent again.
	r.sim.Inject(x10sim.Fault{Garbage: []byte{0xff, 0x13, 0x00}})
	if err := r.m.On(ctx, addr(a1)); err != nil {
		t.Fatal(err)
	}
	wantLevel(t, r.sim, a1, 255)
	// Before a poll, unsolicited: skipped, then the poll served.
	r.sim.Inject(x10sim.Fault{Garbage: []byte{0x42, 0x99}})
	if err := r.sim.Press(a3, true); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, r.m, 2*time.Second); ev.Address != "A3" {
		t.Fatalf("%+v", ev)
	}
	if s := r.m.Stats(); s.Garbage < 2 || s.ChecksumRetries < 1 {
		t.Fatalf("%+v", s)
	}
}

// Burst: what the interface says arrives in one write (checksum with
// garbage, ready and the next poll together, a whole upload).
func TestSeveralFramesInOneRead(t *testing.T) {
	r := start(t, x10sim.Config{}, testConfig(t), nil)
	ctx := ctxT(t)
	r.sim.Inject(x10sim.Fault{Burst: true})
	r.sim.SetLevel(a2, 255)
	if l, err := r.m.Status(ctx, addr(a2)); err != nil || l != 255 {
		t.Fatalf("%d %v", l, err)
	}
	if ev := nextEvent(t, r.m, time.Second); ev.Address != "A2" || ev.Command != "status-on" {
		t.Fatalf("%+v", ev)
	}
	if err := r.sim.Press(a3, true); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, r.m, 2*time.Second); ev.Address != "A3" {
		t.Fatalf("%+v", ev)
	}
	if err := r.m.Off(ctx, addr(a2)); err != nil {
		t.Fatal(err)
	}
	wantLevel(t, r.sim, a2, 0)
}

// oneByte splits every read into single bytes.
type oneByte struct{ io.ReadWriteCloser }

func (o oneByte) Read(b []byte) (int, error) { return o.ReadWriteCloser.Read(b[:min(1, len(b))]) }

func TestSplitReads(t *testing.T) {
	r := start(t, x10sim.Config{}, testConfig(t), func(p io.ReadWriteCloser) io.ReadWriteCloser { return oneByte{p} })
	ctx := ctxT(t)
	r.sim.Inject(x10sim.Fault{Burst: true})
	if err := r.m.On(ctx, addr(a1)); err != nil {
		t.Fatal(err)
	}
	if err := r.sim.Send([]x10.Item{{Addr: a3}, {IsFunction: true, House: 'A', Func: x10.Dim, DimAmount: 105}}); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, r.m, 2*time.Second); ev.Address != "A3" || ev.Command != "dim" {
		t.Fatalf("%+v", ev)
	}
}

// The interface keeps 8 data bytes; a long burst on the line overruns it.
// The driver decodes what is whole, logs the rest, and forgets the level
// of the unit whose function was cut.
func TestBufferOverrun(t *testing.T) {
	r := start(t, x10sim.Config{}, testConfig(t), nil)
	ctx := ctxT(t)
	if err := r.m.On(ctx, addr(a4)); err != nil {
		t.Fatal(err)
	}
	a5, a6 := x10.Addr{House: 'A', Unit: 5}, x10.Addr{House: 'A', Unit: 6}
	items := []x10.Item{{Addr: a1}, {IsFunction: true, House: 'A', Func: x10.On}, {Addr: a5}, {IsFunction: true, House: 'A', Func: x10.On},
		{Addr: a6}, {IsFunction: true, House: 'A', Func: x10.On}, {Addr: a4}, {IsFunction: true, House: 'A', Func: x10.Dim, DimAmount: 50}}
	if err := r.sim.Send(items); err != nil { // 9 data bytes
		t.Fatal(err)
	}
	got := map[plc.Address]bool{}
	for range 3 {
		ev := nextEvent(t, r.m, 2*time.Second)
		got[ev.Address] = true
	}
	if !got["A1"] || !got["A5"] || !got["A6"] {
		t.Fatalf("events %v", got)
	}
	noEvent(t, r.m, 200*time.Millisecond)
	if r.sim.Overruns() != 1 {
		t.Fatalf("sim overruns %d", r.sim.Overruns())
	}
	if s := r.m.Stats(); s.BadUploads != 1 {
		t.Fatalf("%+v", s)
	}
	if _, known := r.m.Level(a4); known {
		t.Fatal("A4's level is still known though its dim was lost")
	}
	if err := r.m.Off(ctx, addr(a4)); err != nil {
		t.Fatal(err)
	}
}

// One writer, a bounded queue: a flood of commands gets some refused at
// once with ErrQueueFull, the rest done; none hangs.
func TestQueueBounded(t *testing.T) {
	mc := testConfig(t)
	mc.QueueLen = 2
	r := start(t, x10sim.Config{}, mc, nil)
	ctx := ctxT(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var ok, full int
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := addr(a1)
			if i%2 == 1 {
				a = addr(a4)
			}
			err := r.m.On(ctx, a)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, x10.ErrQueueFull):
				full++
			default:
				t.Errorf("err %v", err)
			}
		}()
	}
	wg.Wait()
	if ok < 1 || full < 1 || ok+full != 10 {
		t.Fatalf("ok %d full %d", ok, full)
	}
}

func TestCloseFailsQueued(t *testing.T) {
	r := start(t, x10sim.Config{}, testConfig(t), nil)
	r.sim.Inject(x10sim.Fault{NoChecksum: 100})
	errc := make(chan error, 3)
	for range 3 {
		go func() { errc <- r.m.On(context.Background(), addr(a1)) }()
	}
	time.Sleep(50 * time.Millisecond)
	r.m.Close()
	for range 3 {
		select {
		case err := <-errc:
			if err == nil {
				t.Fatal("command succeeded on a mute line")
			}
		case <-time.After(3 * time.Second):
			t.Fatal("command hung over Close")
		}
	}
	if err := r.m.On(context.Background(), addr(a1)); !errors.Is(err, x10.ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
}

// Preset Dim over the pty: one absolute command (address, then Preset Dim
// with the level in its house nibble); the two-way module takes the level,
// a plain lamp module ignores it; a Preset Dim heard on the line sets the
// level of the unit addressed before it.
func TestPresetDim(t *testing.T) {
	r := start(t, x10sim.Config{}, testConfig(t), nil)
	ctx := ctxT(t)
	if err := r.m.PresetDim(ctx, addr(a2), 128); err != nil {
		t.Fatal(err)
	}
	wantLevel(t, r.sim, a2, 132) // preset level 16 of 31
	if l, ok := r.m.Level(a2); !ok || l != 132 {
		t.Fatalf("driver tracks %d %v", l, ok)
	}
	sent := r.sim.Sent()
	if n := len(sent); n < 2 || string(sent[n-2]) != string(x10.AddressFrame(a2)) || string(sent[n-1]) != "\x06\x0b" {
		t.Fatalf("frames sent % x", sent)
	}
	if err := r.m.PresetDim(ctx, addr(a2), 255); err != nil {
		t.Fatal(err)
	}
	wantLevel(t, r.sim, a2, 255)
	if err := r.m.PresetDim(ctx, addr(a2), 0); err != nil {
		t.Fatal(err)
	}
	wantLevel(t, r.sim, a2, 0)
	// A plain LM465 does not take Preset Dim.
	if err := r.m.On(ctx, addr(a1)); err != nil {
		t.Fatal(err)
	}
	if err := r.m.PresetDim(ctx, addr(a1), 40); err != nil {
		t.Fatal(err)
	}
	wantLevel(t, r.sim, a1, 255)
	// Heard on the line: A2, then Preset Dim 1 level 8.
	for len(r.m.Events()) > 0 {
		<-r.m.Events()
	}
	if err := r.sim.Send([]x10.Item{{Addr: a2}, x10.PresetItem(8)}); err != nil {
		t.Fatal(err)
	}
	ev := nextEvent(t, r.m, 2*time.Second)
	if ev.Address != "A2" || ev.Level != x10.LevelOfPreset(8) || ev.Command != "preset-dim-1" {
		t.Fatalf("event %+v", ev)
	}
	wantLevel(t, r.sim, a2, x10.LevelOfPreset(8))
}

package home_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"oepc.dev/oepcos/packages/health"
	"oepc.dev/oepcos/packages/home"
	"oepc.dev/oepcos/packages/home/homeapi"
	"oepc.dev/oepcos/packages/home/hometest"
	"oepc.dev/oepcos/plc"
	"oepc.dev/oepcos/plc/insteon"
	"oepc.dev/oepcos/plc/insteon/insteonsim"
	"oepc.dev/oepcos/plc/plctest"
	"oepc.dev/oepcos/plc/x10"
	"oepc.dev/oepcos/plc/x10/x10sim"
)

var (
	lampA   = hometest.LampA
	dimmerB = hometest.DimmerB
	switchC = hometest.SwitchC
	keypadD = hometest.KeypadD
)

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

type insteonLine = hometest.InsteonLine

func newInsteonLine(t *testing.T, dir string) *insteonLine {
	return hometest.NewInsteonLine(t, dir, insteonsim.Config{Logger: testLogger(t).With("side", "sim")})
}

// homed is a running home.Run and a client of its socket.
type homed struct {
	t      *testing.T
	cfg    home.Config
	c      *homeapi.Client
	cancel context.CancelFunc
	done   chan error
}

func shortDir(t *testing.T) string {
	t.Helper()
	d, err := shortDirB(t)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// shortDirB: unix socket paths are limited to 108 bytes: keep them short.
func shortDirB(t testing.TB) (string, error) {
	d, err := os.MkdirTemp("", "homed")
	if err != nil {
		return "", err
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d, nil
}

func startHomed(t *testing.T, cfg home.Config) *homed {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t).With("side", "homed")
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &homed{t: t, cfg: cfg, cancel: cancel, done: make(chan error, 1)}
	go func() { h.done <- home.Run(ctx, cfg) }()
	h.c = homeapi.NewUnix(cfg.Socket)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := h.c.Modems(ctxT(t, time.Second)); err == nil {
			break
		}
		select {
		case err := <-h.done:
			t.Fatalf("homed stopped at start: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("homed's socket does not answer")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(h.stop)
	return h
}

func (h *homed) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("homed: %v", err)
		}
	case <-time.After(15 * time.Second):
		h.t.Error("homed did not stop within 15 s")
	}
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitModems waits until every modem is open.
func (h *homed) waitModems() {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ms, err := h.c.Modems(ctxT(h.t, time.Second))
		ok := err == nil
		for _, m := range ms {
			ok = ok && m.Present
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("modems not open: %+v %v", ms, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// events collects what the event stream delivers.
type events struct {
	mu  sync.Mutex
	got []homeapi.Event
	ch  chan struct{}
}

func subscribe(t *testing.T, c *homeapi.Client) *events {
	t.Helper()
	ev := &events{ch: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	st, err := c.OpenEvents(ctx)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			e, err := st.Next()
			if err != nil {
				return
			}
			ev.mu.Lock()
			ev.got = append(ev.got, e)
			ev.mu.Unlock()
			select {
			case ev.ch <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() { cancel(); st.Close(); <-done })
	return ev
}

// wait returns the first event (after skip ones already matched) for which
// match is true.
func (ev *events) wait(t *testing.T, d time.Duration, what string, match func(homeapi.Event) bool) homeapi.Event {
	t.Helper()
	deadline := time.After(d)
	for {
		ev.mu.Lock()
		for _, e := range ev.got {
			if match(e) {
				ev.mu.Unlock()
				return e
			}
		}
		ev.mu.Unlock()
		select {
		case <-ev.ch:
		case <-deadline:
			ev.mu.Lock()
			defer ev.mu.Unlock()
			t.Fatalf("no event %s in %s; got %+v", what, d, ev.got)
		}
	}
}

func (ev *events) count(match func(homeapi.Event) bool) int {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	n := 0
	for _, e := range ev.got {
		if match(e) {
			n++
		}
	}
	return n
}

func stateEvent(dev, state string, level int, source string) func(homeapi.Event) bool {
	return func(e homeapi.Event) bool {
		return e.Kind == homeapi.EventState && e.Device == dev && e.State != nil && e.State.State == state &&
			(level < 0 || e.State.Level == level) && (source == "" || e.Source == source)
	}
}

func baseConfig(t *testing.T, dir string, modems ...home.ModemConfig) home.Config {
	return home.Config{StateDir: filepath.Join(dir, "state"), Socket: filepath.Join(dir, "h.sock"),
		HealthDir: filepath.Join(dir, "health"), Modems: modems, CommandTimeout: 8 * time.Second}
}

func insteonModem(path string) home.ModemConfig {
	return home.ModemConfig{Protocol: plc.Insteon, Path: path, Patterns: []string{}}
}

func addDevices(t *testing.T, c *homeapi.Client) {
	t.Helper()
	for _, d := range []homeapi.Device{
		{Name: "Lamp", Room: "Living room", Kind: homeapi.KindLamp, Protocol: "insteon", Address: "1a.2b.3c"},
		{Name: "Dimmer", Room: "Living room", Kind: homeapi.KindDimmer, Protocol: "insteon", Address: dimmerB.String()},
		{Name: "Hall switch", Room: "Hall", Kind: homeapi.KindSwitch, Protocol: "insteon", Address: switchC.String()},
		{Name: "Keypad", Room: "Hall", Kind: homeapi.KindKeypad, Protocol: "insteon", Address: keypadD.String()},
	} {
		got, err := c.PutDevice(ctxT(t, 5*time.Second), d)
		if err != nil {
			t.Fatal(err)
		}
		if got.State.State != homeapi.StateUnknown {
			t.Fatalf("a new device's state is %q, want unknown", got.State.State)
		}
	}
}

func TestDevicesOnOffDimStatus(t *testing.T) {
	dir := shortDir(t)
	line := newInsteonLine(t, dir)
	h := startHomed(t, baseConfig(t, dir, insteonModem(line.Link)))
	h.waitModems()
	addDevices(t, h.c)
	ev := subscribe(t, h.c)
	ctx := ctxT(t, 60*time.Second)

	d, err := h.c.On(ctx, "Lamp")
	if err != nil {
		t.Fatal(err)
	}
	if d.State.State != homeapi.StateOn || d.State.Level != 255 || line.Level(t, lampA) != 255 {
		t.Fatalf("after on: %+v, lamp at %d", d.State, line.Level(t, lampA))
	}
	// The stream saw pending, then on.
	pend := ev.wait(t, 5*time.Second, "pending", stateEvent("Lamp", homeapi.StatePending, -1, "api"))
	on := ev.wait(t, 5*time.Second, "on", stateEvent("Lamp", homeapi.StateOn, 255, "api"))
	if pend.Seq >= on.Seq {
		t.Fatalf("pending (seq %d) not before on (seq %d)", pend.Seq, on.Seq)
	}
	if d, err = h.c.Dim(ctx, "Lamp", 100); err != nil || d.State.Level != 100 || d.State.State != homeapi.StateOn || line.Level(t, lampA) != 100 {
		t.Fatalf("after dim 100: %+v %v, lamp at %d", d.State, err, line.Level(t, lampA))
	}
	if d, err = h.c.Off(ctx, "Lamp"); err != nil || d.State.State != homeapi.StateOff || line.Level(t, lampA) != 0 {
		t.Fatalf("after off: %+v %v", d.State, err)
	}
	// Status reads the device: change it behind homed's back by hand.
	if err := line.Sim.Press(switchC, 1, true); err != nil {
		t.Fatal(err)
	}
	ev.wait(t, 5*time.Second, "hand press", stateEvent("Hall switch", homeapi.StateOn, 255, "hand"))
	if d, err = h.c.Status(ctx, "Hall switch"); err != nil || d.State.State != homeapi.StateOn {
		t.Fatalf("status of the pressed switch: %+v %v", d.State, err)
	}
	// A device that does not answer: an error state that says so.
	line.Sim.SetMissing(dimmerB, true)
	d, err = h.c.On(ctx, "Dimmer")
	var ae *homeapi.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusGatewayTimeout || !strings.Contains(ae.Message, "did not answer") {
		t.Fatalf("on a missing device: %v", err)
	}
	got, _ := h.c.Device(ctx, "Dimmer")
	if got.State.State != homeapi.StateError || !strings.Contains(got.State.Error, "did not answer") {
		t.Fatalf("missing device's state %+v", got.State)
	}
	ev.wait(t, 5*time.Second, "error", stateEvent("Dimmer", homeapi.StateError, -1, "api"))
	line.Sim.SetMissing(dimmerB, false)
	if d, err = h.c.Dim(ctx, "Dimmer", 40); err != nil || d.State.Level != 40 {
		t.Fatalf("dimmer back: %+v %v", d.State, err)
	}
	// Devices list by room then name.
	ds, err := h.c.Devices(ctx)
	if err != nil || len(ds) != 4 || ds[0].Name != "Hall switch" || ds[1].Name != "Keypad" || ds[2].Name != "Dimmer" {
		t.Fatalf("devices %+v %v", ds, err)
	}
	if ds[0].Address != "3C.4D.5E" && !strings.EqualFold(ds[0].Address, switchC.String()) {
		t.Fatalf("address spelled %q", ds[0].Address)
	}
}

func TestHandPressedIsOneEvent(t *testing.T) {
	dir := shortDir(t)
	line := newInsteonLine(t, dir)
	h := startHomed(t, baseConfig(t, dir, insteonModem(line.Link)))
	h.waitModems()
	addDevices(t, h.c)
	ev := subscribe(t, h.c)
	// Hall switch is two hops away: the modem hears the broadcast several
	// times and the cleanup too; subscribers see one change.
	if err := line.Sim.Press(switchC, 1, true); err != nil {
		t.Fatal(err)
	}
	ev.wait(t, 5*time.Second, "switch on by hand", stateEvent("Hall switch", homeapi.StateOn, 255, "hand"))
	time.Sleep(1500 * time.Millisecond) // let every repeat and the cleanup arrive
	if n := ev.count(stateEvent("Hall switch", homeapi.StateOn, 255, "hand")); n != 1 {
		t.Fatalf("one press gave %d state events", n)
	}
	d, _ := h.c.Device(ctxT(t, 5*time.Second), "Hall switch")
	if d.State.State != homeapi.StateOn {
		t.Fatalf("state after the press: %+v", d.State)
	}
	// A second real press (off) is not swallowed.
	if err := line.Sim.Press(switchC, 1, false); err != nil {
		t.Fatal(err)
	}
	ev.wait(t, 5*time.Second, "switch off by hand", stateEvent("Hall switch", homeapi.StateOff, 0, "hand"))
}

func TestScenes(t *testing.T) {
	dir := shortDir(t)
	line := newInsteonLine(t, dir)
	h := startHomed(t, baseConfig(t, dir, insteonModem(line.Link)))
	h.waitModems()
	addDevices(t, h.c)
	ctx := ctxT(t, 60*time.Second)
	ev := subscribe(t, h.c)

	// An ALL-Link group scene: one message, the members answer cleanups.
	line.Sim.LinkScene(3, map[insteon.Address]byte{lampA: 255, dimmerB: 128})
	if _, err := h.c.PutScene(ctx, homeapi.Scene{Name: "Evening", Group: 3,
		Members: []homeapi.SceneMember{{Device: "Lamp", Level: 255}, {Device: "Dimmer", Level: 128}}}); err != nil {
		t.Fatal(err)
	}
	ds, err := h.c.FireScene(ctx, "Evening", true)
	if err != nil {
		t.Fatal(err)
	}
	if line.Level(t, lampA) != 255 || line.Level(t, dimmerB) != 128 {
		t.Fatalf("group fired: lamp %d, dimmer %d", line.Level(t, lampA), line.Level(t, dimmerB))
	}
	if len(ds) != 2 || ds[0].State.Level != 255 || ds[1].State.Level != 128 || ds[1].State.State != homeapi.StateOn {
		t.Fatalf("members after the scene: %+v", ds)
	}
	if line.Sim.Count(0x61) != 1 || line.Sim.Count(0x62) != 0 {
		t.Fatalf("a group scene sent %d ALL-Link and %d direct commands, want 1 and 0", line.Sim.Count(0x61), line.Sim.Count(0x62))
	}
	ev.wait(t, 5*time.Second, "scene event", func(e homeapi.Event) bool { return e.Kind == homeapi.EventScene && e.Scene == "Evening" && e.On })
	if _, err := h.c.FireScene(ctx, "Evening", false); err != nil || line.Level(t, lampA) != 0 || line.Level(t, dimmerB) != 0 {
		t.Fatalf("group off: %v; lamp %d, dimmer %d", err, line.Level(t, lampA), line.Level(t, dimmerB))
	}
	// A member that does not answer its cleanup is named.
	line.Sim.SetMissing(dimmerB, true)
	_, err = h.c.FireScene(ctx, "Evening", true)
	if err == nil || !strings.Contains(err.Error(), "Dimmer") {
		t.Fatalf("group with a missing member: %v", err)
	}
	d, _ := h.c.Device(ctx, "Dimmer")
	l, _ := h.c.Device(ctx, "Lamp")
	if d.State.State != homeapi.StateError || l.State.State != homeapi.StateOn {
		t.Fatalf("after a partial scene: dimmer %+v, lamp %+v", d.State, l.State)
	}
	line.Sim.SetMissing(dimmerB, false)

	// A scene without a group: one command per member.
	if _, err := h.c.PutScene(ctx, homeapi.Scene{Name: "Night", Members: []homeapi.SceneMember{{Device: "Lamp", Level: 0}, {Device: "Dimmer", Level: 20}},
		Triggers: []homeapi.Trigger{{Device: "Keypad", Group: 4}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.c.FireScene(ctx, "Night", true); err != nil || line.Level(t, lampA) != 0 || line.Level(t, dimmerB) != 20 {
		t.Fatalf("night: %v; lamp %d, dimmer %d", err, line.Level(t, lampA), line.Level(t, dimmerB))
	}
	// A keypad button fires it by hand: the members' states follow.
	if _, err := h.c.On(ctx, "Lamp"); err != nil {
		t.Fatal(err)
	}
	if err := line.Sim.Press(keypadD, 4, true); err != nil {
		t.Fatal(err)
	}
	ev.wait(t, 5*time.Second, "scene by keypad", func(e homeapi.Event) bool {
		return e.Kind == homeapi.EventScene && e.Scene == "Night" && e.Source == "hand"
	})
	ev.wait(t, 5*time.Second, "lamp follows", stateEvent("Lamp", homeapi.StateOff, 0, "scene"))
	l, _ = h.c.Device(ctx, "Lamp")
	d, _ = h.c.Device(ctx, "Dimmer")
	if l.State.State != homeapi.StateOff || d.State.Level != 20 {
		t.Fatalf("after the keypad: lamp %+v, dimmer %+v", l.State, d.State)
	}
	// A button with no scene is published as a button.
	if err := line.Sim.Press(keypadD, 5, true); err != nil {
		t.Fatal(err)
	}
	ev.wait(t, 5*time.Second, "button", func(e homeapi.Event) bool {
		return e.Kind == homeapi.EventButton && e.Device == "Keypad" && e.Group == 5
	})
	// A device in a scene cannot be removed.
	if err := h.c.DeleteDevice(ctx, "Dimmer"); err == nil || !strings.Contains(err.Error(), "scene") {
		t.Fatalf("removing a scene's member: %v", err)
	}
}

// ny is where the schedule tests live: DST from 2026-03-08 and to
// 2026-11-01.
func ny(t *testing.T) *time.Location {
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestScheduleAcrossDSTWithInjectedClock(t *testing.T) {
	dir := shortDir(t)
	line := newInsteonLine(t, dir)
	// The clock starts unset (gokrazy boots at 1970).
	clock := hometest.NewClock(time.Unix(0, 0))
	cfg := baseConfig(t, dir, insteonModem(line.Link))
	cfg.Clock, cfg.TimeZone = clock, "America/New_York"
	h := startHomed(t, cfg)
	h.waitModems()
	addDevices(t, h.c)
	ctx := ctxT(t, 60*time.Second)
	ev := subscribe(t, h.c)
	s, err := h.c.PutSchedule(ctx, homeapi.Schedule{Name: "Morning", At: "07:00", Device: "Lamp", Action: homeapi.ActionOn})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Next.IsZero() {
		t.Fatalf("next firing %s computed before the clock was set", s.Next)
	}
	if _, err := h.c.PutSchedule(ctx, homeapi.Schedule{Name: "Late", At: "01:30", Device: "Dimmer", Action: homeapi.ActionDim, Level: 77}); err != nil {
		t.Fatal(err)
	}
	// The clock is set: Saturday 2026-03-07 12:00 EST.
	clock.Set(time.Date(2026, 3, 7, 12, 0, 0, 0, ny(t)))
	next := func(name string) time.Time {
		deadline := time.Now().Add(5 * time.Second)
		for {
			ss, err := h.c.Schedules(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range ss {
				if s.Name == name && !s.Next.IsZero() {
					return s.Next
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("schedule %s has no next firing: %+v", name, ss)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// Sunday 07:00 is EDT already: 11:00Z, not 12:00Z.
	if got, want := next("Morning"), time.Date(2026, 3, 8, 11, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("next morning %s, want %s", got.UTC(), want)
	}
	clock.Set(time.Date(2026, 3, 8, 10, 59, 0, 0, time.UTC))
	time.Sleep(300 * time.Millisecond)
	if line.Level(t, lampA) != 0 {
		t.Fatal("the lamp went on before 07:00")
	}
	clock.Set(time.Date(2026, 3, 8, 11, 0, 0, 0, time.UTC))
	ev.wait(t, 10*time.Second, "schedule fired", func(e homeapi.Event) bool {
		return e.Kind == homeapi.EventSchedule && e.Schedule == "Morning" && e.Error == ""
	})
	if line.Level(t, lampA) != 255 {
		t.Fatalf("lamp at %d after the schedule", line.Level(t, lampA))
	}
	ev.wait(t, 5*time.Second, "lamp on by schedule", stateEvent("Lamp", homeapi.StateOn, 255, "schedule"))
	if got, want := next("Morning"), time.Date(2026, 3, 9, 11, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("next morning after firing %s, want %s", got.UTC(), want)
	}

	// Autumn: 01:30 comes twice on 2026-11-01; the schedule fires once.
	clock.Set(time.Date(2026, 10, 31, 20, 0, 0, 0, ny(t)))
	if _, err := h.c.PutSchedule(ctx, homeapi.Schedule{Name: "Late", At: "01:30", Device: "Dimmer", Action: homeapi.ActionDim, Level: 77}); err != nil {
		t.Fatal(err)
	}
	if got, want := next("Late"), time.Date(2026, 11, 1, 5, 30, 0, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("next late %s, want %s (the first 01:30)", got.UTC(), want)
	}
	clock.Set(time.Date(2026, 11, 1, 5, 30, 0, 0, time.UTC))
	ev.wait(t, 10*time.Second, "late fired", func(e homeapi.Event) bool { return e.Kind == homeapi.EventSchedule && e.Schedule == "Late" })
	if line.Level(t, dimmerB) != 77 {
		t.Fatalf("dimmer at %d", line.Level(t, dimmerB))
	}
	if _, err := h.c.Off(ctx, "Dimmer"); err != nil {
		t.Fatal(err)
	}
	// The second 01:30 (06:30Z): nothing fires.
	clock.Set(time.Date(2026, 11, 1, 6, 30, 0, 0, time.UTC))
	time.Sleep(500 * time.Millisecond)
	if n := ev.count(func(e homeapi.Event) bool { return e.Kind == homeapi.EventSchedule && e.Schedule == "Late" }); n != 1 || line.Level(t, dimmerB) != 0 {
		t.Fatalf("late fired %d times; dimmer at %d", n, line.Level(t, dimmerB))
	}
	if got, want := next("Late"), time.Date(2026, 11, 2, 6, 30, 0, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("next late %s, want %s", got.UTC(), want)
	}
}

func TestStateSurvivesRestart(t *testing.T) {
	dir := shortDir(t)
	line := newInsteonLine(t, dir)
	cfg := baseConfig(t, dir, insteonModem(line.Link))
	h := startHomed(t, cfg)
	h.waitModems()
	addDevices(t, h.c)
	ctx := ctxT(t, 60*time.Second)
	if _, err := h.c.Dim(ctx, "Lamp", 90); err != nil {
		t.Fatal(err)
	}
	if _, err := h.c.PutScene(ctx, homeapi.Scene{Name: "All off", Members: []homeapi.SceneMember{{Device: "Lamp"}, {Device: "Hall switch"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.c.PutSchedule(ctx, homeapi.Schedule{Name: "Bed", At: "sunset", Offset: 90, Weekdays: []string{"mon", "fri"}, Scene: "All off", Action: "off"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.c.PutSettings(ctx, homeapi.Settings{TimeZone: "Europe/Berlin", Latitude: 52.52, Longitude: 13.4}); err != nil {
		t.Fatal(err)
	}
	h.stop()

	h2 := startHomed(t, cfg)
	ds, err := h2.c.Devices(ctx)
	if err != nil || len(ds) != 4 {
		t.Fatalf("devices after restart: %+v %v", ds, err)
	}
	l, _ := h2.c.Device(ctx, "Lamp")
	if l.State.State != homeapi.StateOn || l.State.Level != 90 || l.Room != "Living room" {
		t.Fatalf("lamp after restart %+v", l)
	}
	sc, _ := h2.c.Scenes(ctx)
	ss, _ := h2.c.Schedules(ctx)
	st, _ := h2.c.Settings(ctx)
	if len(sc) != 1 || sc[0].Name != "All off" || len(sc[0].Members) != 2 {
		t.Fatalf("scenes after restart %+v", sc)
	}
	if len(ss) != 1 || ss[0].At != "sunset" || ss[0].Offset != 90 || len(ss[0].Weekdays) != 2 {
		t.Fatalf("schedules after restart %+v", ss)
	}
	if st.TimeZone != "Europe/Berlin" || st.Latitude != 52.52 {
		t.Fatalf("settings after restart %+v", st)
	}
	h2.waitModems()
	if d, err := h2.c.Off(ctx, "Lamp"); err != nil || d.State.State != homeapi.StateOff || line.Level(t, lampA) != 0 {
		t.Fatalf("command after restart: %+v %v", d, err)
	}
}

func TestDegradedWhenModemMissing(t *testing.T) {
	dir := shortDir(t)
	missing := filepath.Join(dir, "usb-nothing-here")
	cfg := baseConfig(t, dir, insteonModem(missing))
	h := startHomed(t, cfg)
	ctx := ctxT(t, 30*time.Second)
	var rep health.Report
	deadline := time.Now().Add(5 * time.Second)
	for {
		var err error
		rep, err = health.Query(ctx, health.SocketPath(cfg.HealthDir, "homed"))
		if err == nil && rep.Status == health.Degraded {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("health %+v %v, want degraded", rep, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(rep.Detail, missing) {
		t.Fatalf("degraded detail %q does not name %s", rep.Detail, missing)
	}
	if _, err := h.c.PutDevice(ctx, homeapi.Device{Name: "Lamp", Kind: "lamp", Protocol: "insteon", Address: "1A.2B.3C"}); err != nil {
		t.Fatal(err)
	}
	_, err := h.c.On(ctx, "Lamp")
	var ae *homeapi.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable || !strings.Contains(ae.Message, missing) {
		t.Fatalf("command without a modem: %v", err)
	}
	// A device of a protocol with no modem at all.
	if _, err := h.c.PutDevice(ctx, homeapi.Device{Name: "Fan", Kind: "appliance", Protocol: "x10", Address: "b2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.c.On(ctx, "Fan"); err == nil || !strings.Contains(err.Error(), "no x10 modem") {
		t.Fatalf("x10 device without an x10 modem: %v", err)
	}
	// Plug the modem in: homed finds it and reports ok.
	line := newInsteonLine(t, t.TempDir())
	if err := os.Symlink(line.Link, missing); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		rep, err = health.Query(ctx, health.SocketPath(cfg.HealthDir, "homed"))
		if err == nil && rep.Status == health.OK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("health after plugging in %+v %v, want ok", rep, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := h.c.On(ctx, "Lamp"); err != nil || line.Level(t, lampA) != 255 {
		t.Fatalf("on after plugging in: %v", err)
	}
}

func TestBadInput(t *testing.T) {
	dir := shortDir(t)
	h := startHomed(t, baseConfig(t, dir))
	ctx := ctxT(t, 30*time.Second)
	bad := []homeapi.Device{
		{Name: "", Kind: "lamp", Protocol: "insteon", Address: "1A.2B.3C"},
		{Name: "x/y", Kind: "lamp", Protocol: "insteon", Address: "1A.2B.3C"},
		{Name: "Lamp", Kind: "toaster", Protocol: "insteon", Address: "1A.2B.3C"},
		{Name: "Lamp", Kind: "lamp", Protocol: "zigbee", Address: "1A.2B.3C"},
		{Name: "Lamp", Kind: "lamp", Protocol: "insteon", Address: "1A.2B"},
		{Name: "Lamp", Kind: "lamp", Protocol: "x10", Address: "Q1"},
		{Name: "Lamp", Kind: "lamp", Protocol: "x10", Address: "A17"},
	}
	for _, d := range bad {
		if _, err := h.c.PutDevice(ctx, d); err == nil {
			t.Errorf("device %+v accepted", d)
		} else if ae := (*homeapi.APIError)(nil); !errors.As(err, &ae) || (ae.Status != 400 && ae.Status != 404 && ae.Status != 405) {
			t.Errorf("device %+v: %v", d, err)
		}
	}
	if _, err := h.c.PutDevice(ctx, homeapi.Device{Name: "Switch", Kind: "switch", Protocol: "x10", Address: "a3"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.c.PutDevice(ctx, homeapi.Device{Name: "Other", Kind: "switch", Protocol: "x10", Address: "A3"}); err == nil || !strings.Contains(err.Error(), "already") {
		t.Fatalf("two devices at one address: %v", err)
	}
	if _, err := h.c.Dim(ctx, "Switch", 10); err == nil || !strings.Contains(err.Error(), "cannot dim") {
		t.Fatalf("dimming a switch: %v", err)
	}
	if _, err := h.c.On(ctx, "Nobody"); !homeapi.IsNotFound(err) {
		t.Fatalf("on a device that does not exist: %v", err)
	}
	for _, s := range []homeapi.Schedule{
		{Name: "s", At: "25:00", Device: "Switch", Action: "on"},
		{Name: "s", At: "07:00", Device: "Switch", Action: "explode"},
		{Name: "s", At: "07:00", Action: "on"},
		{Name: "s", At: "07:00", Device: "Switch", Scene: "x", Action: "on"},
		{Name: "s", At: "07:00", Device: "Switch", Action: "dim", Level: 3},
		{Name: "s", At: "07:00", Device: "Ghost", Action: "on"},
		{Name: "s", At: "07:00", Device: "Switch", Action: "on", Weekdays: []string{"someday"}},
	} {
		if _, err := h.c.PutSchedule(ctx, s); err == nil {
			t.Errorf("schedule %+v accepted", s)
		}
	}
	for _, s := range []homeapi.Scene{
		{Name: "e"},
		{Name: "e", Members: []homeapi.SceneMember{{Device: "Ghost"}}},
		{Name: "e", Members: []homeapi.SceneMember{{Device: "Switch", Level: 300}}},
		{Name: "e", Members: []homeapi.SceneMember{{Device: "Switch"}}, Group: 2}, // an x10 member in a group
		{Name: "e", Members: []homeapi.SceneMember{{Device: "Switch"}, {Device: "Switch"}}},
	} {
		if _, err := h.c.PutScene(ctx, s); err == nil {
			t.Errorf("scene %+v accepted", s)
		}
	}
	if _, err := h.c.PutSettings(ctx, homeapi.Settings{TimeZone: "Mars/Olympus"}); err == nil {
		t.Error("time zone Mars/Olympus accepted")
	}
	// Raw HTTP: bad JSON, unknown fields, a huge body, an unknown route.
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", h.cfg.Socket)
	}}, Timeout: 10 * time.Second}
	for _, c := range []struct {
		method, path, body string
		want               int
	}{
		{"PUT", "/v1/home/devices/Lamp", "{", 400},
		{"PUT", "/v1/home/devices/Lamp", `{"name":"Lamp","colour":"red"}`, 400},
		{"PUT", "/v1/home/devices/Lamp", `{"name":"Other","kind":"lamp","protocol":"x10","address":"A1"}`, 400},
		{"PUT", "/v1/home/devices/Lamp", `{"name":"` + strings.Repeat("a", 70<<10) + `"}`, 413},
		{"POST", "/v1/home/devices/Switch/explode", "", 404},
		{"POST", "/v1/home/devices/Switch/dim", `{"level":"high"}`, 400},
		{"GET", "/v1/home/nothing", "", 404},
		{"POST", "/v1/home/scenes/none/sideways", "", 404},
	} {
		req, _ := http.NewRequest(c.method, "http://homed"+c.path, strings.NewReader(c.body))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e homeapi.Error
		json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != c.want || e.Error == "" {
			t.Errorf("%s %s: %d %q, want %d with a message", c.method, c.path, resp.StatusCode, e.Error, c.want)
		}
	}
}

func TestX10EndToEnd(t *testing.T) {
	dir := shortDir(t)
	ptmx, path := plctest.PTY(t)
	a1, _ := x10.ParseAddr("A1")
	a2, _ := x10.ParseAddr("A2")
	sim := x10sim.New(ptmx, x10sim.Config{Speed: 20, Devices: []x10sim.Device{{Addr: a1, Kind: x10sim.TwoWayLamp}, {Addr: a2, Kind: x10sim.WallSwitch}},
		Logger: testLogger(t).With("side", "x10sim")})
	ctx, cancel := context.WithCancel(context.Background())
	simDone := make(chan error, 1)
	go func() { simDone <- sim.Run(ctx) }()
	cfg := baseConfig(t, dir, home.ModemConfig{Protocol: plc.X10, Path: path, Patterns: []string{}})
	h := startHomed(t, cfg)
	t.Cleanup(func() { h.stop(); cancel(); <-simDone })
	h.waitModems()
	c := ctxT(t, 60*time.Second)
	for _, d := range []homeapi.Device{
		{Name: "Desk lamp", Kind: "lamp", Protocol: "x10", Address: "a1"},
		{Name: "Wall", Kind: "switch", Protocol: "x10", Address: "A2"},
	} {
		if _, err := h.c.PutDevice(c, d); err != nil {
			t.Fatal(err)
		}
	}
	ev := subscribe(t, h.c)
	if d, err := h.c.On(c, "Desk lamp"); err != nil || d.State.State != homeapi.StateOn {
		t.Fatalf("x10 on: %+v %v", d, err)
	}
	if l, _ := sim.Level(a1); l != 255 {
		t.Fatalf("x10 lamp at %d", l)
	}
	if d, err := h.c.Status(c, "Desk lamp"); err != nil || d.State.State != homeapi.StateOn {
		t.Fatalf("x10 status: %+v %v", d, err)
	}
	if d, err := h.c.Off(c, "Desk lamp"); err != nil || d.State.State != homeapi.StateOff {
		t.Fatalf("x10 off: %+v %v", d, err)
	}
	if err := sim.Press(a2, true); err != nil {
		t.Fatal(err)
	}
	ev.wait(t, 10*time.Second, "x10 wall switch by hand", stateEvent("Wall", homeapi.StateOn, -1, "hand"))
}

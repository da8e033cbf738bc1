package home_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"oepc.dev/oepcos/packages/home/homeapi"
	"oepc.dev/oepcos/plc/insteon"
)

// waitLinks polls a scene until homed has nothing more to do for its links
// (or, gone: the scene was removed).
func waitLinks(t *testing.T, h *homed, name string, d time.Duration) (sc homeapi.Scene, gone bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ss, err := h.c.Scenes(ctxT(t, 5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, s := range ss {
			if s.Name != name {
				continue
			}
			found, sc = true, s
			done := true
			for _, l := range s.Links {
				if d, _ := l.Done(); !d {
					done = false
				}
			}
			if done && !s.Removing {
				return sc, false
			}
		}
		if !found {
			return sc, true
		}
		if time.Now().After(deadline) {
			t.Fatalf("scene %s: links not done in %s: %+v", name, d, sc.Links)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func linkState(sc homeapi.Scene, dev string) homeapi.MemberLink {
	for _, l := range sc.Links {
		if l.Device == dev {
			return l
		}
	}
	return homeapi.MemberLink{}
}

// responder is a simulated device's responder record of a modem group.
func responder(line *insteonLine, dev insteon.Address, g byte) (insteon.LinkRecord, bool) {
	for _, r := range line.Sim.DeviceLinks(dev) {
		if r.InUse() && !r.Controller() && r.Group == g && r.Address == line.Sim.Address() {
			return r, true
		}
	}
	return insteon.LinkRecord{}, false
}

func modemControls(line *insteonLine, dev insteon.Address, g byte) bool {
	for _, r := range line.Sim.Links() {
		if r.Controller() && r.Group == g && r.Address == dev {
			return true
		}
	}
	return false
}

func waitLevel(t *testing.T, line *insteonLine, a insteon.Address, want int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for line.Level(t, a) != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s at level %d, want %d", a, line.Level(t, a), want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// homed links a scene's ALL-Link group itself: adding the scene links each
// member as a responder at its level (the simulated modem and devices
// hold the records), firing it, or pressing its keypad button, sets each
// member to its level; a member changed or removed is relinked or
// unlinked; a member that does not answer is named and linked on retry;
// removing the scene unlinks its members.
func TestSceneLinking(t *testing.T) {
	dir := shortDir(t)
	line := newInsteonLine(t, dir)
	h := startHomed(t, baseConfig(t, dir, insteonModem(line.Link)))
	h.waitModems()
	addDevices(t, h.c)
	ctx := ctxT(t, 5*time.Minute)
	ev := subscribe(t, h.c)

	sc, err := h.c.PutScene(ctx, homeapi.Scene{Name: "Evening", Group: 3,
		Members:  []homeapi.SceneMember{{Device: "Lamp", Level: 255}, {Device: "Dimmer", Level: 128}},
		Triggers: []homeapi.Trigger{{Device: "Keypad", Group: 3}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(sc.Links) != 2 || sc.Links[0].State != homeapi.LinkPending || sc.Links[1].Address != dimmerB.String() {
		t.Fatalf("a new group scene's links: %+v", sc.Links)
	}
	start := time.Now()
	sc, _ = waitLinks(t, h, "Evening", 3*time.Minute)
	t.Logf("two members linked in %v", time.Since(start))
	for _, dev := range []string{"Lamp", "Dimmer"} {
		if l := linkState(sc, dev); l.State != homeapi.LinkLinked {
			t.Fatalf("%s: %+v", dev, l)
		}
	}
	for _, c := range []struct {
		a     insteon.Address
		level byte
	}{{lampA, 255}, {dimmerB, 128}} {
		r, ok := responder(line, c.a, 3)
		if !ok || r.Data[0] != c.level || r.Data[1] != insteon.DefaultRamp || !modemControls(line, c.a, 3) {
			t.Fatalf("%s: responder record %v %v, modem controls it: %v", c.a, r, ok, modemControls(line, c.a, 3))
		}
	}
	if line.Sim.Resets() != 0 {
		t.Fatal("the modem's database was reset")
	}
	ev.wait(t, 5*time.Second, "link event", func(e homeapi.Event) bool {
		return e.Kind == homeapi.EventLink && e.Scene == "Evening" && e.Device == "Dimmer" && e.Link != nil && e.Link.State == homeapi.LinkLinked
	})

	// Firing the group: one 0x61, each member at the level in its record.
	n61 := line.Sim.Count(insteon.CmdSendAllLink)
	if _, err := h.c.FireScene(ctx, "Evening", true); err != nil {
		t.Fatal(err)
	}
	if line.Level(t, lampA) != 255 || line.Level(t, dimmerB) != 128 || line.Sim.Count(insteon.CmdSendAllLink) != n61+1 {
		t.Fatalf("fired: lamp %d, dimmer %d", line.Level(t, lampA), line.Level(t, dimmerB))
	}
	if _, err := h.c.FireScene(ctx, "Evening", false); err != nil || line.Level(t, lampA) != 0 || line.Level(t, dimmerB) != 0 {
		t.Fatalf("off: %v", err)
	}
	// The keypad's button 3: homed fires the modem's group for it.
	if err := line.Sim.Press(keypadD, 3, true); err != nil {
		t.Fatal(err)
	}
	waitLevel(t, line, lampA, 255, 15*time.Second)
	waitLevel(t, line, dimmerB, 128, 15*time.Second)
	ev.wait(t, 10*time.Second, "dimmer follows the keypad", stateEvent("Dimmer", homeapi.StateOn, 128, "hand"))

	// The dimmer at a new level, the lamp out of the scene.
	if _, err := h.c.PutScene(ctx, homeapi.Scene{Name: "Evening", Group: 3,
		Members: []homeapi.SceneMember{{Device: "Dimmer", Level: 60}}}); err != nil {
		t.Fatal(err)
	}
	sc, _ = waitLinks(t, h, "Evening", 3*time.Minute)
	if len(sc.Links) != 1 || sc.Links[0].State != homeapi.LinkLinked || sc.Links[0].Level != 60 {
		t.Fatalf("after the change: %+v", sc.Links)
	}
	if r, ok := responder(line, dimmerB, 3); !ok || r.Data[0] != 60 {
		t.Fatalf("dimmer's record %v %v", r, ok)
	}
	if _, ok := responder(line, lampA, 3); ok || modemControls(line, lampA, 3) {
		t.Fatal("the lamp is still linked to group 3")
	}
	if _, err := h.c.FireScene(ctx, "Evening", false); err != nil {
		t.Fatal(err)
	}
	if _, err := h.c.FireScene(ctx, "Evening", true); err != nil || line.Level(t, dimmerB) != 60 || line.Level(t, lampA) != 255 {
		t.Fatalf("fired after the change: %v, dimmer %d, lamp %d (the lamp was at 255 and must not follow)", err, line.Level(t, dimmerB), line.Level(t, lampA))
	}

	// A member that does not answer: the scene is saved, the member named.
	line.Sim.SetMissing(switchC, true)
	if _, err := h.c.PutScene(ctx, homeapi.Scene{Name: "Porch", Group: 4,
		Members: []homeapi.SceneMember{{Device: "Lamp", Level: 200}, {Device: "Hall switch", Level: 255}}}); err != nil {
		t.Fatal(err)
	}
	sc, _ = waitLinks(t, h, "Porch", 3*time.Minute)
	if l := linkState(sc, "Lamp"); l.State != homeapi.LinkLinked {
		t.Fatalf("lamp: %+v", l)
	}
	l := linkState(sc, "Hall switch")
	if l.State != homeapi.LinkFailed || !strings.Contains(l.Error, "Hall switch") || !strings.Contains(l.Error, "did not answer") {
		t.Fatalf("the silent switch: %+v", l)
	}
	if modemControls(line, switchC, 4) {
		t.Fatal("a member that never answered is in the modem's group")
	}
	// Plugged back in: linked on retry.
	line.Sim.SetMissing(switchC, false)
	if _, err := h.c.LinkScene(ctx, "Porch"); err != nil {
		t.Fatal(err)
	}
	sc, _ = waitLinks(t, h, "Porch", 3*time.Minute)
	if l := linkState(sc, "Hall switch"); l.State != homeapi.LinkLinked {
		t.Fatalf("the switch after the retry: %+v", l)
	}
	if r, ok := responder(line, switchC, 4); !ok || r.Data[0] != 255 {
		t.Fatalf("switch's record %v %v", r, ok)
	}

	// Removing the scene unlinks its members first.
	removing, err := h.c.RemoveScene(ctx, "Porch", false)
	if err != nil || removing == nil || !removing.Removing {
		t.Fatalf("remove: %+v %v", removing, err)
	}
	if _, gone := waitLinks(t, h, "Porch", 3*time.Minute); !gone {
		t.Fatal("the scene stayed after its members were unlinked")
	}
	for _, a := range []insteon.Address{lampA, switchC} {
		if _, ok := responder(line, a, 4); ok || modemControls(line, a, 4) {
			t.Fatalf("%s still linked to group 4 after the scene was removed", a)
		}
	}
	if _, ok := responder(line, dimmerB, 3); !ok || !modemControls(line, dimmerB, 3) {
		t.Fatal("removing one scene unlinked another's member")
	}
}

// A group scene saved while its modem is unplugged: its links wait
// (pending, saying why) and are made when the modem is plugged in.
func TestLinksWaitForTheModem(t *testing.T) {
	dir := shortDir(t)
	missing := filepath.Join(dir, "usb-not-yet")
	cfg := baseConfig(t, dir, insteonModem(missing))
	cfg.OpenRetry = 2 * time.Second
	h := startHomed(t, cfg)
	ctx := ctxT(t, 3*time.Minute)
	if _, err := h.c.PutDevice(ctx, homeapi.Device{Name: "Lamp", Kind: "lamp", Protocol: "insteon", Address: lampA.String()}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.c.PutScene(ctx, homeapi.Scene{Name: "Reading", Group: 6, Members: []homeapi.SceneMember{{Device: "Lamp", Level: 90}}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ss, err := h.c.Scenes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ss) == 1 && len(ss[0].Links) == 1 && ss[0].Links[0].State == homeapi.LinkPending && strings.Contains(ss[0].Links[0].Error, "waiting for the modem") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("links without a modem: %+v", ss)
		}
		time.Sleep(50 * time.Millisecond)
	}
	line := newInsteonLine(t, t.TempDir())
	if err := os.Symlink(line.Link, missing); err != nil {
		t.Fatal(err)
	}
	sc, _ := waitLinks(t, h, "Reading", 2*time.Minute)
	if l := linkState(sc, "Lamp"); l.State != homeapi.LinkLinked || l.Error != "" {
		t.Fatalf("after plugging in: %+v", l)
	}
	if r, ok := responder(line, lampA, 6); !ok || r.Data[0] != 90 || !modemControls(line, lampA, 6) {
		t.Fatalf("lamp's record %v %v", r, ok)
	}
	// The links are kept with the scene: after a restart they are still
	// linked, nothing is linked again, and the group fires.
	h.stop()
	n64 := line.Sim.Count(insteon.CmdStartLinking)
	h = startHomed(t, cfg)
	h.waitModems()
	sc, _ = waitLinks(t, h, "Reading", 30*time.Second)
	if l := linkState(sc, "Lamp"); l.State != homeapi.LinkLinked || l.Level != 90 {
		t.Fatalf("after a restart: %+v", l)
	}
	if _, err := h.c.FireScene(ctx, "Reading", true); err != nil || line.Level(t, lampA) != 90 {
		t.Fatalf("fired after a restart: %v, lamp %d", err, line.Level(t, lampA))
	}
	if line.Sim.Count(insteon.CmdStartLinking) != n64 {
		t.Fatal("a restart linked the scene again")
	}
}

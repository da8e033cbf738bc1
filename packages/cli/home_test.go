package cli

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"oepc.dev/oepcos/packages/box"
	"oepc.dev/oepcos/packages/home"
	"oepc.dev/oepcos/packages/home/homeapi"
	"oepc.dev/oepcos/packages/home/hometest"
	"oepc.dev/oepcos/packages/localapi"
	"oepc.dev/oepcos/plc"
	"oepc.dev/oepcos/plc/insteon/insteonsim"
)

// TestHomeCommands: oepc home ... against oepcd's proxy to a real homed
// driving a simulated Insteon modem on a pseudo-terminal.
func TestHomeCommands(t *testing.T) {
	dir, err := os.MkdirTemp("", "clihome")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	line := hometest.NewInsteonLine(t, dir, insteonsim.Config{})
	socket := filepath.Join(dir, "h.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- home.Run(ctx, home.Config{StateDir: filepath.Join(dir, "state"), Socket: socket,
			Modems: []home.ModemConfig{{Protocol: plc.Insteon, Path: line.Link, Patterns: []string{}}}})
	}()
	t.Cleanup(func() { cancel(); <-done })
	api := localapi.NewServer("tok", nil)
	api.Handle(homeapi.Prefix, box.HomeProxy(socket))
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, out, _ := run(t, srv, "home", "modems")
		if code == 0 && strings.Contains(out, "present") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("homed's modem: %d %q", code, out)
		}
		time.Sleep(30 * time.Millisecond)
	}
	ok := func(args ...string) string {
		t.Helper()
		code, out, errs := run(t, srv, args...)
		if code != 0 {
			t.Fatalf("oepc %q: exit %d, %s", args, code, errs)
		}
		return out
	}
	ok("home", "add", "Lamp", "--protocol", "insteon", "--address", "1a.2b.3c", "--room", "Living room")
	ok("home", "add", "Dimmer", "--protocol", "insteon", "--address", hometest.DimmerB.String(), "--kind", "dimmer", "--room", "Living room")
	if out := ok("home", "on", "Lamp"); out != "Lamp: on\n" || line.Level(t, hometest.LampA) != 255 {
		t.Fatalf("home on: %q, lamp at %d", out, line.Level(t, hometest.LampA))
	}
	if out := ok("home", "dim", "Dimmer", "50%"); out != "Dimmer: on 50%\n" || line.Level(t, hometest.DimmerB) != 128 {
		t.Fatalf("home dim: %q, dimmer at %d", out, line.Level(t, hometest.DimmerB))
	}
	var ds []homeapi.Device
	if err := json.Unmarshal([]byte(ok("home", "ls", "--json")), &ds); err != nil || len(ds) != 2 || ds[1].State.Level != 255 {
		t.Fatalf("home ls --json: %+v %v", ds, err)
	}
	if out := ok("home", "ls"); !strings.Contains(out, "Living room") || !strings.Contains(out, "on 50%") {
		t.Fatalf("home ls: %q", out)
	}
	ok("home", "scene", "add", "Off", "--members", "Lamp=0,Dimmer=0")
	if out := ok("home", "scene", "on", "Off"); !strings.Contains(out, "Lamp: off") || line.Level(t, hometest.DimmerB) != 0 {
		t.Fatalf("home scene on: %q", out)
	}
	ok("home", "settings", "--tz", "Europe/Berlin")
	out := ok("home", "schedule", "add", "Wake", "--at", "07:00", "--days", "mon,fri", "--device", "Lamp", "--action", "on")
	if !strings.Contains(out, "next 20") {
		t.Fatalf("schedule add: %q", out)
	}
	var ss []homeapi.Schedule
	if err := json.Unmarshal([]byte(ok("home", "schedule", "ls", "--json")), &ss); err != nil || len(ss) != 1 || ss[0].Next.In(mustLoc(t, "Europe/Berlin")).Hour() != 7 {
		t.Fatalf("schedule ls: %+v %v", ss, err)
	}
	if wd := ss[0].Next.In(mustLoc(t, "Europe/Berlin")).Weekday(); wd != time.Monday && wd != time.Friday {
		t.Fatalf("next firing on %s", wd)
	}
	// Errors a user meets say what to do.
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"home", "dim", "Lamp", "300"}, 2, "0-255"},
		{[]string{"home", "on"}, 2, "device name"},
		{[]string{"home", "on", "Ghost"}, 1, "no device"},
		{[]string{"home", "add", "X", "--protocol", "insteon", "--address", "nope"}, 1, "1A.2B.3C"},
		{[]string{"home", "scene", "sideways"}, 2, "use ls"},
		{[]string{"home", "schedule", "add", "Bad", "--at", "25:00", "--device", "Lamp"}, 1, "HH:MM"},
	} {
		code, _, errs := run(t, srv, c.args...)
		if code != c.code || !strings.Contains(errs, c.want) {
			t.Errorf("oepc %q: exit %d, %q; want %d and %q", c.args, code, errs, c.code, c.want)
		}
	}
	// A scene with an ALL-Link group: homed links its members itself and
	// the command follows it member by member.
	out = ok("home", "scene", "add", "Evening", "--members", "Lamp=255,Dimmer=50%", "--group", "3")
	if !strings.Contains(out, "Lamp: linked to group 3 at level 255") || !strings.Contains(out, "Dimmer: linked to group 3 at level 128") {
		t.Fatalf("scene add --group: %q", out)
	}
	if out := ok("home", "scene", "ls"); !strings.Contains(out, "2/2 linked") {
		t.Fatalf("scene ls: %q", out)
	}
	ok("home", "scene", "on", "Evening")
	if line.Level(t, hometest.LampA) != 255 || line.Level(t, hometest.DimmerB) != 128 {
		t.Fatalf("linked scene on: lamp %d, dimmer %d", line.Level(t, hometest.LampA), line.Level(t, hometest.DimmerB))
	}
	// A member that does not answer: the scene is saved, the member named,
	// and link tries again.
	line.Sim.SetMissing(hometest.DimmerB, true)
	code, out, errs := run(t, srv, "home", "scene", "add", "Porch", "--members", "Dimmer=100", "--group", "4")
	if code != 1 || !strings.Contains(errs, "Dimmer") || !strings.Contains(errs, "did not answer") || !strings.Contains(errs, "oepc home scene link Porch") {
		t.Fatalf("scene add with a silent member: exit %d, %q, %q", code, out, errs)
	}
	line.Sim.SetMissing(hometest.DimmerB, false)
	if out := ok("home", "scene", "link", "Porch"); !strings.Contains(out, "Dimmer: linked to group 4 at level 100") {
		t.Fatalf("scene link: %q", out)
	}
	if out := ok("home", "scene", "rm", "Porch"); !strings.Contains(out, "removed, its members unlinked") {
		t.Fatalf("scene rm of a linked scene: %q", out)
	}
	ok("home", "scene", "rm", "Evening")
	ok("home", "schedule", "rm", "Wake")
	ok("home", "scene", "rm", "Off")
	ok("home", "rm", "Dimmer")
	if out := ok("home", "ls"); strings.Contains(out, "Dimmer") {
		t.Fatalf("removed device still listed: %q", out)
	}
}

func mustLoc(t *testing.T, name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"oepc.dev/oepcos/plc/insteon"
	"oepc.dev/oepcos/plc/insteon/insteonsim"
	"oepc.dev/oepcos/plc/plctest"
)

var (
	lamp = insteon.Address{0x1A, 0x2B, 0x3C}
	sw   = insteon.Address{0x3C, 0x4D, 0x5E}
)

// TestPlctoolAgainstSim builds plctool and runs it on a pseudo-terminal
// with the simulated modem behind it.
func TestPlctoolAgainstSim(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := filepath.Join(t.TempDir(), "plctool")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	master, path := plctest.PTY(t)
	sim := insteonsim.New(insteonsim.Config{})
	sim.Add(insteonsim.Device{Address: lamp, Kind: insteonsim.Lamp})
	sim.Add(insteonsim.Device{Address: sw, Kind: insteonsim.Switch, Hops: 1})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go sim.Serve(ctx, master)

	run := func(args ...string) (string, string, int) {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(c, bin, append([]string{"-port", path, "-modem", "insteon", "-timeout", "5s"}, args...)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errb.String(), code
	}
	expect := func(wantOut string, args ...string) {
		t.Helper()
		out, errs, code := run(args...)
		if code != 0 || !strings.Contains(out, wantOut) {
			t.Fatalf("plctool %v: exit %d, stdout %q, stderr %q; want %q", args, code, out, errs, wantOut)
		}
	}
	expect("insteon modem 44.85.11 category 0x03", "info")
	expect("1A.2B.3C on", "on", "1A.2B.3C")
	if l, _ := sim.Level(lamp); l != 255 {
		t.Fatalf("lamp at %d after plctool on", l)
	}
	expect("1A.2B.3C level 128", "dim", "1A.2B.3C", "128")
	if l, _ := sim.Level(lamp); l != 128 {
		t.Fatalf("lamp at %d after plctool dim", l)
	}
	expect("1A.2B.3C level 128 (50%)", "status", "1A.2B.3C")
	expect("1A.2B.3C off", "off", "1A.2B.3C")
	if l, _ := sim.Level(lamp); l != 0 {
		t.Fatalf("lamp at %d after plctool off", l)
	}

	// Errors a user meets: exit status and a message that says what to do.
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"dim", "1A.2B.3C", "300"}, 2, "not 0-255"},
		{[]string{"on", "1A.2B"}, 2, "write it 1A.2B.3C"},
		{[]string{"status", "0A.0B.0C"}, 1, "did not answer"},
		{[]string{"frobnicate"}, 2, "unknown command"},
	} {
		_, errs, code := run(c.args...)
		if code != c.code || !strings.Contains(errs, c.msg) {
			t.Errorf("plctool %v: exit %d stderr %q; want %d and %q", c.args, code, errs, c.code, c.msg)
		}
	}
	var errb bytes.Buffer
	x := exec.Command(bin, "-port", path, "-modem", "x10", "info")
	x.Stderr = &errb
	if err := x.Run(); err == nil || !strings.Contains(errb.String(), "plc/x10") {
		if _, registered := modems["x10"]; !registered {
			t.Errorf("x10 without its half: %v %q", err, errb.String())
		}
	}

	// monitor: a switch pressed by hand one hop away shows as JSON lines.
	mon := exec.CommandContext(ctx, bin, "-port", path, "-modem", "insteon", "monitor")
	stdout, err := mon.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, _ := mon.StderrPipe()
	if err := mon.Start(); err != nil {
		t.Fatal(err)
	}
	ready := bufio.NewScanner(stderr)
	if !ready.Scan() || !strings.Contains(ready.Text(), "monitoring") {
		t.Fatalf("monitor did not start: %q", ready.Text())
	}
	go func() {
		for ready.Scan() {
			t.Log("monitor stderr:", ready.Text())
		}
	}()
	if err := sim.Press(sw, 1, true); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	var got []map[string]any
	deadline := time.AfterFunc(10*time.Second, func() { mon.Process.Kill() })
	for len(got) < 4 && lines.Scan() {
		var o map[string]any
		if err := json.Unmarshal(lines.Bytes(), &o); err != nil {
			t.Fatalf("monitor printed %q: %v", lines.Text(), err)
		}
		got = append(got, o)
	}
	deadline.Stop()
	if len(got) < 4 {
		t.Fatalf("monitor printed %d frames: %v", len(got), got)
	}
	wantHex := []string{"02503C4D5E000001CB1100", "02503C4D5E000001C71100", "02503C4D5E000001C31100", "02503C4D5E4485114111"}
	for i, o := range got {
		if o["cmd"] != "standard-received" || o["hex"] == nil || !strings.HasPrefix(o["hex"].(string), wantHex[i]) {
			t.Errorf("frame %d: %v, want hex %s…", i, o, wantHex[i])
		}
	}
	if got[0]["type"] != "all-link-broadcast" || got[0]["hops_left"] != float64(2) || got[3]["type"] != "all-link-cleanup" {
		t.Errorf("decoded fields: %v", got)
	}
	mon.Process.Signal(syscall.SIGINT)
	if err := mon.Wait(); err != nil {
		t.Fatalf("monitor after SIGINT: %v", err)
	}
}

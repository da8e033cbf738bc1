package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"oepc.dev/oepcos/plc/plctest"
	"oepc.dev/oepcos/plc/x10"
	"oepc.dev/oepcos/plc/x10/x10sim"
)

// buildPlctool builds this command into a temporary directory.
func buildPlctool(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "plctool")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestX10EndToEnd runs the built plctool against x10sim on a pty, as
// someone debugging a CM11A at home would run it against the real one.
func TestX10EndToEnd(t *testing.T) {
	bin := buildPlctool(t)
	ptmx, path := plctest.PTY(t)
	a1, a2, a3 := x10.Addr{House: 'A', Unit: 1}, x10.Addr{House: 'A', Unit: 2}, x10.Addr{House: 'A', Unit: 3}
	sim := x10sim.New(ptmx, x10sim.Config{Speed: 20, Devices: []x10sim.Device{
		{Addr: a1, Kind: x10sim.Lamp}, {Addr: a2, Kind: x10sim.TwoWayLamp}, {Addr: a3, Kind: x10sim.WallSwitch}}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go sim.Run(ctx)

	run := func(args ...string) (string, string, error) {
		t.Helper()
		cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
		defer ccancel()
		cmd := exec.CommandContext(cctx, bin, append([]string{"-port", path, "-modem", "x10"}, args...)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		return out.String(), errb.String(), err
	}
	mustRun := func(args ...string) string {
		t.Helper()
		out, errs, err := run(args...)
		if err != nil {
			t.Fatalf("plctool %v: %v\n%s", args, err, errs)
		}
		return out
	}
	level := func(a x10.Addr) int {
		l, _ := sim.Level(a)
		return int(l)
	}

	if out := mustRun("info"); !strings.Contains(out, "firmware revision 8") || !strings.Contains(out, "monitored house: A") {
		t.Fatalf("info:\n%s", out)
	}
	if out := mustRun("on", "A1"); out != "A1 on\n" || level(a1) != 255 {
		t.Fatalf("on: %q, A1 at %d", out, level(a1))
	}
	if out := mustRun("dim", "a1", "11"); out != "A1 dimmed to 11/22\n" || level(a1) != int(x10.LevelOf(11)) {
		t.Fatalf("dim: %q, A1 at %d", out, level(a1))
	}
	if out := mustRun("info"); !strings.Contains(out, "on: A1\n") || !strings.Contains(out, "dimmed: A1\n") {
		t.Fatalf("info after dim:\n%s", out)
	}
	if out := mustRun("off", "A1"); out != "A1 off\n" || level(a1) != 0 {
		t.Fatalf("off: %q, A1 at %d", out, level(a1))
	}
	sim.SetLevel(a2, 255)
	if out := mustRun("status", "A2"); out != "A2 on (level 255/255)\n" {
		t.Fatalf("status A2: %q", out)
	}
	// Errors a user meets: clear, and a failing exit status.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"status", "A1"}, "one-way"},
		{[]string{"dim", "A1", "23"}, "not 1-22"},
		{[]string{"on", "Q1"}, "house"},
		{[]string{"on"}, "takes 1 argument"},
	} {
		_, errs, err := run(tc.args...)
		if err == nil || !strings.Contains(errs, tc.want) {
			t.Errorf("plctool %v: err %v, stderr %q, want it to say %q", tc.args, err, errs, tc.want)
		}
	}

	// monitor: one JSON object per frame received.
	cmd := exec.CommandContext(ctx, bin, "-port", path, "-modem", "x10", "monitor")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	time.Sleep(300 * time.Millisecond) // let it open the port
	if err := sim.Press(a3, true); err != nil {
		t.Fatal(err)
	}
	var sawPoll, sawUpload bool
	deadline := time.After(10 * time.Second)
	for !sawUpload {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("monitor ended early: %s", errb.String())
			}
			var obj map[string]any
			if err := json.Unmarshal([]byte(l), &obj); err != nil {
				t.Fatalf("monitor printed a line that is not one JSON object: %q: %v", l, err)
			}
			hex, _ := obj["hex"].(string)
			c, _ := obj["cmd"].(string)
			if hex == "" || c == "" {
				t.Fatalf("monitor line without hex and cmd: %q", l)
			}
			if hex == "5a" && c == "poll" {
				sawPoll = true
			}
			// A3 (A=6, 3=2) and A On (6, 2): size 3, mask 02, 62 62.
			if hex == "03026262" && c == "upload A3 A on" {
				sawUpload = true
			}
		case <-deadline:
			t.Fatalf("no upload line from monitor; stderr:\n%s", errb.String())
		}
	}
	if !sawPoll {
		t.Error("monitor showed no poll before the upload")
	}
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("monitor after SIGINT: %v\n%s", err, errb.String())
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
}

package health

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// shortDir returns a temporary directory whose socket paths stay under the
// unix socket length limit (t.TempDir can be long).
func shortDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "hl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// serve runs Serve in the background and waits until the socket answers.
func serve(t *testing.T, ctx context.Context, path string, report func() Report) <-chan error {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- Serve(ctx, path, report) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("unix", path)
		if err == nil {
			c.Close()
			return errc
		}
		select {
		case err := <-errc:
			t.Fatalf("Serve returned early: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("socket %s never answered: %v", path, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestServeQuery(t *testing.T) {
	dir := filepath.Join(shortDir(t), "sub") // Serve creates the directory
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var calls atomic.Int32
	path := SocketPath(dir, "storaged")
	errc := serve(t, ctx, path, func() Report {
		calls.Add(1)
		return Report{Name: "storaged", Status: NotEnabled, Detail: "arrives with issue 7"}
	})
	rep, err := Query(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Name != "storaged" || rep.Status != NotEnabled || rep.Detail != "arrives with issue 7" {
		t.Errorf("got %+v", rep)
	}
	if rep.PID != os.Getpid() {
		t.Errorf("PID = %d, want %d", rep.PID, os.Getpid())
	}
	if rep.Since.IsZero() || rep.Since.After(time.Now()) {
		t.Errorf("Since = %v", rep.Since)
	}
	if rep.Version == "" {
		t.Errorf("Version empty")
	}
	if _, err := os.Stat("/proc/self/statm"); err == nil && rep.RSSBytes <= 0 {
		t.Errorf("RSSBytes = %d on Linux", rep.RSSBytes)
	}
	if calls.Load() != 1 {
		t.Errorf("report called %d times", calls.Load())
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want 0600", fi.Mode().Perm())
	}

	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(ShutdownTimeout + 2*time.Second):
		t.Fatal("Serve did not stop in time")
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("socket left behind: %v", err)
	}
}

func TestStaleSocketReplaced(t *testing.T) {
	dir := shortDir(t)
	path := SocketPath(dir, "minerd")
	// A socket file whose listener is gone: bind, then close without unlink.
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("stale socket not there: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	serve(t, ctx, path, func() Report { return Report{Name: "minerd", Status: OK} })
	rep, err := Query(ctx, path)
	if err != nil || rep.Status != OK {
		t.Fatalf("after stale socket: %+v, %v", rep, err)
	}
}

func TestRefuseLiveSocketAndNonSocket(t *testing.T) {
	dir := shortDir(t)
	path := SocketPath(dir, "relayd")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	serve(t, ctx, path, func() Report { return Report{Name: "relayd", Status: OK} })
	err := Serve(ctx, path, func() Report { return Report{} })
	if err == nil || !strings.Contains(err.Error(), "running process") {
		t.Errorf("second Serve on a live socket: %v", err)
	}
	// The first server must still answer.
	if _, err := Query(ctx, path); err != nil {
		t.Errorf("first server broken by second Serve: %v", err)
	}

	file := filepath.Join(dir, "plain.sock")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	err = Serve(ctx, file, func() Report { return Report{} })
	if err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("Serve on a regular file: %v", err)
	}
	if b, _ := os.ReadFile(file); string(b) != "x" {
		t.Errorf("regular file was touched")
	}
}

func TestServeBadInput(t *testing.T) {
	if err := Serve(context.Background(), "/tmp/x.sock", nil); err == nil {
		t.Error("nil report accepted")
	}
	long := "/tmp/" + strings.Repeat("a", 120) + ".sock"
	if err := Serve(context.Background(), long, func() Report { return Report{} }); err == nil || !strings.Contains(err.Error(), "longer") {
		t.Errorf("long path: %v", err)
	}
}

func TestQueryDeadline(t *testing.T) {
	dir := shortDir(t)
	path := SocketPath(dir, "hung")
	// A listener that accepts and never answers.
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = Query(ctx, path)
	if err == nil {
		t.Fatal("Query of a hung server succeeded")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Query took %v despite a 300ms deadline", d)
	}
}

func TestQueryRejectsUnknownStatus(t *testing.T) {
	dir := shortDir(t)
	path := SocketPath(dir, "odd")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	serve(t, ctx, path, func() Report { return Report{Name: "odd", Status: "fine, probably"} })
	if _, err := Query(ctx, path); err == nil || !strings.Contains(err.Error(), "unknown status") {
		t.Errorf("unknown status: %v", err)
	}
}

func TestCollect(t *testing.T) {
	dir := shortDir(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	serve(t, ctx, SocketPath(dir, "storaged"), func() Report {
		return Report{Name: "storaged", Status: NotEnabled, Detail: "later"}
	})
	serve(t, ctx, SocketPath(dir, "homed"), func() Report {
		return Report{Name: "homed", Status: OK}
	})
	// An impostor: the socket named minerd answers as homed.
	serve(t, ctx, SocketPath(dir, "minerd"), func() Report {
		return Report{Name: "homed", Status: OK}
	})
	names := []string{"storaged", "relayd", "homed", "minerd", "../etc"}
	start := time.Now()
	reps := Collect(ctx, dir, names)
	if d := time.Since(start); d > QueryTimeout+time.Second {
		t.Errorf("Collect took %v", d)
	}
	if len(reps) != len(names) {
		t.Fatalf("%d reports for %d names", len(reps), len(names))
	}
	for i, r := range reps {
		if r.Name != names[i] {
			t.Errorf("report %d is %q, want %q", i, r.Name, names[i])
		}
	}
	if reps[0].Status != NotEnabled || reps[0].Detail != "later" {
		t.Errorf("storaged: %+v", reps[0])
	}
	if reps[1].Status != Error || !strings.HasPrefix(reps[1].Detail, "not running") {
		t.Errorf("missing relayd: %+v", reps[1])
	}
	if reps[2].Status != OK {
		t.Errorf("homed: %+v", reps[2])
	}
	if reps[3].Status != Error || !strings.Contains(reps[3].Detail, "answers as") {
		t.Errorf("impostor minerd: %+v", reps[3])
	}
	if reps[4].Status != Error {
		t.Errorf("bad name: %+v", reps[4])
	}
	if AllHealthy(reps) {
		t.Error("AllHealthy true with errors")
	}
	if !AllHealthy(reps[:1]) || !AllHealthy([]Report{reps[0], reps[2]}) {
		t.Error("AllHealthy false for ok + not enabled")
	}
}

func TestSelf(t *testing.T) {
	since := time.Now().Add(-time.Minute)
	r := Self("oepcd", Degraded, "no peers", since)
	if r.Name != "oepcd" || r.Status != Degraded || r.PID != os.Getpid() || !r.Since.Equal(since) {
		t.Errorf("Self: %+v", r)
	}
}

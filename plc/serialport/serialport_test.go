package serialport

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"oepc.dev/oepcos/plc/plctest"
)

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// plug makes a by-id style symlink name -> the pty's terminal end, as udev
// does for a USB serial adapter.
func plug(t *testing.T, dir, name string) *os.File {
	t.Helper()
	master, path := plctest.PTY(t)
	if err := os.Symlink(path, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
	return master
}

func readFull(t *testing.T, r io.Reader, n int) []byte {
	t.Helper()
	got := make([]byte, n)
	done := make(chan error, 1)
	go func() { _, err := io.ReadFull(r, got); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("read: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("read: no data in 10s")
	}
	return got
}

// TestTimeoutIsNotUnplug: with nothing on the line, tarm/serial's reads
// end in (0, EOF) every ReadTimeout; the port must not take that for an
// unplug, and data sent later still arrives.
func TestTimeoutIsNotUnplug(t *testing.T) {
	dir := t.TempDir()
	master := plug(t, dir, "usb-PLM-if00")
	p, err := Open(Config{Path: filepath.Join(dir, "usb-PLM-if00"), Baud: 19200, Patterns: []string{},
		ReadTimeout: 20 * time.Millisecond, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	go func() {
		time.Sleep(300 * time.Millisecond) // 15 read timeouts
		master.Write([]byte{0x02, 0x60})
	}()
	if got := readFull(t, p, 2); !bytes.Equal(got, []byte{0x02, 0x60}) {
		t.Fatalf("read % x", got)
	}
	if p.Reconnects() != 0 {
		t.Fatalf("reconnected %d times on an idle line", p.Reconnects())
	}
	if _, err := p.Write([]byte{0x02, 0x73}); err != nil {
		t.Fatal(err)
	}
	if got := readFull(t, master, 2); !bytes.Equal(got, []byte{0x02, 0x73}) {
		t.Fatalf("master read % x", got)
	}
}

// TestUnplugAndPlugBack: the device goes away (its node vanishes), Read
// says so once, Write fails fast; a device appears under another by-id
// name and the port finds it and carries data again.
func TestUnplugAndPlugBack(t *testing.T) {
	dir := t.TempDir()
	m1 := plug(t, dir, "usb-PLM_A-if00")
	p, err := Open(Config{Path: filepath.Join(dir, "usb-PLM_A-if00"), Baud: 19200,
		Patterns: []string{filepath.Join(dir, "*")}, ReadTimeout: 20 * time.Millisecond,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	m1.Close()
	os.Remove(filepath.Join(dir, "usb-PLM_A-if00"))
	buf := make([]byte, 16)
	if _, err := p.Read(buf); !errors.Is(err, ErrUnplugged) {
		t.Fatalf("read after unplug: %v, want ErrUnplugged", err)
	}
	if _, err := p.Write([]byte{0x02}); !errors.Is(err, ErrUnplugged) {
		t.Fatalf("write while unplugged: %v, want ErrUnplugged", err)
	}
	if p.Path() != "" {
		t.Fatalf("Path while unplugged = %q", p.Path())
	}

	time.Sleep(100 * time.Millisecond) // a few failed attempts
	m2 := plug(t, dir, "usb-PLM_B-if00")
	go func() {
		for i := 0; i < 200 && p.Path() == ""; i++ {
			time.Sleep(10 * time.Millisecond)
		}
		m2.Write([]byte{0x02, 0x60, 0x06})
	}()
	if got := readFull(t, p, 3); !bytes.Equal(got, []byte{0x02, 0x60, 0x06}) {
		t.Fatalf("read after plug-in % x", got)
	}
	if want := filepath.Join(dir, "usb-PLM_B-if00"); p.Path() != want {
		t.Fatalf("Path = %q, want %q", p.Path(), want)
	}
	if p.Reconnects() != 1 {
		t.Fatalf("Reconnects = %d, want 1", p.Reconnects())
	}
	if _, err := p.Write([]byte{0x02, 0x60}); err != nil {
		t.Fatal(err)
	}
	if got := readFull(t, m2, 2); !bytes.Equal(got, []byte{0x02, 0x60}) {
		t.Fatalf("master read % x", got)
	}
}

// TestHangupWithNodeStillThere: a line whose reads end at once with
// nothing (a hung-up terminal whose path another device now has) is taken
// for an unplug even though the path still stats as the same node.
func TestHangupWithNodeStillThere(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "tty")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	opens := 0
	p, err := Open(Config{Path: f.Name(), Baud: 19200, Patterns: []string{}, ReadTimeout: 40 * time.Millisecond,
		MinBackoff: time.Millisecond, Logger: testLogger(t),
		Open: func(string, int, time.Duration) (io.ReadWriteCloser, error) {
			opens++
			return eofRWC{}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Read(make([]byte, 4)); !errors.Is(err, ErrUnplugged) {
		t.Fatalf("read: %v, want ErrUnplugged", err)
	}
}

type eofRWC struct{}

func (eofRWC) Read([]byte) (int, error)    { return 0, io.EOF }
func (eofRWC) Write(b []byte) (int, error) { return len(b), nil }
func (eofRWC) Close() error                { return nil }

func TestOpenNotFound(t *testing.T) {
	dir := t.TempDir()
	_, err := Open(Config{Path: filepath.Join(dir, "ttyUSB9"), Baud: 19200, Patterns: []string{filepath.Join(dir, "by-id", "*")}})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	if !strings.Contains(err.Error(), "ttyUSB9") || !strings.Contains(err.Error(), "by-id") {
		t.Fatalf("error does not say where it looked: %v", err)
	}
}

// TestCloseUnblocksRead: Close ends a Read that waits on an idle line and
// one that waits for an unplugged device.
func TestCloseUnblocksRead(t *testing.T) {
	for _, unplugged := range []bool{false, true} {
		dir := t.TempDir()
		m := plug(t, dir, "usb-X")
		p, err := Open(Config{Path: filepath.Join(dir, "usb-X"), Baud: 4800, Patterns: []string{}, ReadTimeout: 20 * time.Millisecond,
			MinBackoff: 10 * time.Millisecond, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		if unplugged {
			m.Close()
			if _, err := p.Read(make([]byte, 1)); !errors.Is(err, ErrUnplugged) {
				t.Fatalf("read: %v", err)
			}
		}
		done := make(chan error, 1)
		go func() { _, err := p.Read(make([]byte, 1)); done <- err }()
		time.Sleep(50 * time.Millisecond)
		p.Close()
		select {
		case err := <-done:
			if !errors.Is(err, ErrClosed) {
				t.Fatalf("read after close: %v, want ErrClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("Close did not end Read (unplugged=%v)", unplugged)
		}
	}
}

func TestCandidates(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"b", "a"} {
		os.WriteFile(filepath.Join(dir, n), nil, 0o600)
	}
	got := Candidates(filepath.Join(dir, "b"), []string{filepath.Join(dir, "*"), filepath.Join(dir, "a")})
	want := []string{filepath.Join(dir, "b"), filepath.Join(dir, "a")}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("Candidates = %v, want %v", got, want)
	}
}

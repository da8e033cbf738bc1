package syncthingbench

import (
	"bytes"
	"context"
	"crypto/rand"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

func TestSync(t *testing.T) {
	if _, err := exec.LookPath("syncthing"); err != nil && os.Geteuid() != 0 {
		t.Skip("syncthing is not installed and we are not root to apt-get install it")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if _, err := EnsureInstalled(ctx); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	src := filepath.Join(dir, "payload.bin")
	data := make([]byte, 32<<20)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(dir, "work")
	if err := os.Mkdir(work, 0o700); err != nil {
		t.Fatal(err)
	}

	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	res, err := Sync(ctx, work, src, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	if res.Duration <= 0 {
		t.Errorf("Duration = %v, want > 0", res.Duration)
	}
	if res.Bytes != int64(len(data)) {
		t.Errorf("Bytes = %d, want %d", res.Bytes, len(data))
	}
	if res.PeakRSSA <= 0 || res.PeakRSSB <= 0 {
		t.Errorf("peak RSS A/B = %d/%d, want > 0", res.PeakRSSA, res.PeakRSSB)
	}
	// Sync verified the sha256 itself; the source must be untouched too.
	got, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Error("source file changed")
	}
	// Everything under workDir is cleaned up.
	left, err := os.ReadDir(work)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("workDir not cleaned up: %d entries left", len(left))
	}
}

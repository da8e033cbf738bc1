package box

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"oepc.dev/oepcos/packages/health"
	"oepc.dev/oepcos/packages/identity"
	"oepc.dev/oepcos/packages/localapi"
)

// A corrupt database must not turn into a restart loop: the box stays up,
// answers its API with the reason, and stops cleanly.
func TestCorruptDatabaseRunsDegraded(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "db"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "db", "MANIFEST"), []byte("this is not a badger manifest"), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan Info, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{DataDir: dir, Name: "broken", APIListener: ln, LoopbackOnly: true,
			Ready: func(i Info) { ready <- i }})
	}()
	var info Info
	select {
	case info = <-ready:
	case err := <-done:
		t.Fatalf("Run returned before serving: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("box never became ready")
	}
	c := &localapi.Client{Base: info.API, Token: info.Token}
	var h HealthAnswer
	if err := c.Do(ctx, "GET", "/v1/health", nil, &h); err != nil {
		t.Fatal(err)
	}
	if h.Healthy || len(h.Reports) == 0 || h.Reports[0].Status != string(health.Error) || !strings.Contains(h.Reports[0].Detail, "database unusable") {
		t.Fatalf("health of a box with a corrupt database: %+v", h)
	}
	var apiErr *localapi.APIError
	if err := c.Do(ctx, "GET", "/v1/status", nil, nil); !errors.As(err, &apiErr) || apiErr.Status != http.StatusServiceUnavailable || !strings.Contains(apiErr.Message, "database") {
		t.Fatalf("status of a box with a corrupt database: %v", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("degraded box did not stop")
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]int64{"10GiB": 10 << 30, "512MiB": 512 << 20, "4096": 4096, "1TiB": 1 << 40, "7B": 7} {
		var b byteSize
		if err := b.Set(in); err != nil || int64(b) != want {
			t.Errorf("%q: %d, %v; want %d", in, b, err, want)
		}
	}
	for _, in := range []string{"", "GiB", "-1GiB", "1.5GiB", "99999999999TiB", "ten"} {
		var b byteSize
		if err := b.Set(in); err == nil {
			t.Errorf("%q accepted as %d", in, b)
		}
	}
}

// A full /perm (here a tiny tmpfs, filled up) must give a clear error on
// the API, not a crash or a restart loop.
func TestFullDiskRunsDegraded(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "oepc-full-test", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	// The identity and token fit; then the disk is full.
	if _, err := identity.LoadOrCreateKey(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := identity.LoadOrCreateToken(dir); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "filler"), make([]byte, 2<<20), 0o600) // fails at ENOSPC, by design

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan Info, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{DataDir: dir, Name: "full", APIListener: ln, LoopbackOnly: true,
			Ready: func(i Info) { ready <- i }})
	}()
	var info Info
	select {
	case info = <-ready:
	case err := <-done:
		t.Fatalf("Run gave up instead of reporting: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("box never became ready")
	}
	var h HealthAnswer
	if err := (&localapi.Client{Base: info.API, Token: info.Token}).Do(ctx, "GET", "/v1/health", nil, &h); err != nil {
		t.Fatal(err)
	}
	if h.Healthy || !strings.Contains(h.Reports[0].Detail, "no space left") {
		t.Fatalf("health of a box on a full disk: %+v", h)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
}

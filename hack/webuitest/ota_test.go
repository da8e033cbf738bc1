package webuitest

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"oepc.dev/oepcos/packages/ota"
	"oepc.dev/oepcos/packages/ota/otatest"
)

// fakeGokrazy is gokrazy's update service as the browser test's boxes
// see it: otatest.Gokrazy on a unix socket, with a password file.
type fakeGokrazy struct {
	g            *otatest.Gokrazy
	socket       string
	passwordFile string
	image        *otatest.Image
}

func startGokrazy(t *testing.T) *fakeGokrazy {
	t.Helper()
	dir, err := os.MkdirTemp("", "gokrazy") // short: a unix socket path is at most 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	f := &fakeGokrazy{g: &otatest.Gokrazy{Dir: filepath.Join(dir, "written"), Password: "gokrazy-test-password"},
		socket: filepath.Join(dir, "http.sock"), passwordFile: filepath.Join(dir, "gokr-pw.txt")}
	if err := os.Mkdir(f.g.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.passwordFile, []byte(f.g.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// gokrazy's real layout: the image is 104 MiB of boot, then a 2 MiB root.
	if f.image, err = otatest.WriteImage(filepath.Join(dir, "oepc-"+runtime.GOARCH+".img"), ota.GokrazyLayout, runtime.GOARCH, 2<<20+1234); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", f.socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: f.g}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Logf("fake gokrazy: %v", err)
		}
	}()
	t.Cleanup(func() { srv.Close() })
	return f
}

// check verifies what the browser's update (js/40-ota.test.mjs) wrote:
// each partition byte for byte, in gok's order, then switch and reboot.
func (f *fakeGokrazy) check(t *testing.T) {
	t.Helper()
	if got, want := f.g.Calls(), []string{"root", "boot", "mbr", "switch", "reboot"}; !slices.Equal(got, want) {
		t.Fatalf("gokrazy's endpoints called %v, want %v", got, want)
	}
	for part, want := range map[string][]byte{"root": f.image.Root, "boot": f.image.Boot, "mbr": f.image.MBR} {
		got, err := os.ReadFile(filepath.Join(f.g.Dir, part))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: gokrazy got %d bytes, not the image's %d (%v)", part, len(got), len(want), err)
		}
	}
}

package ota_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gokrazy/updater"

	"oepc.dev/oepcos/packages/ota"
	"oepc.dev/oepcos/packages/ota/otatest"
)

var small = ota.Layout{BootOffset: 64 << 10, BootSize: 1 << 20, RootOffset: 64<<10 + 1<<20 + 32<<10, RootSize: 4 << 20}

func setup(t *testing.T, l ota.Layout, password string) (*ota.Updater, *otatest.Gokrazy) {
	t.Helper()
	g := &otatest.Gokrazy{Dir: t.TempDir(), Password: "right"}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	u, err := ota.New(ota.Config{
		Target:   ota.URL(srv.URL+"/", srv.Client(), func(context.Context) (string, error) { return password, nil }),
		SpoolDir: t.TempDir(), Layout: l, Arch: "amd64",
	})
	if err != nil {
		t.Fatal(err)
	}
	return u, g
}

func apply(t *testing.T, u *ota.Updater, path string) error {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	return u.Apply(context.Background(), f, st.Size())
}

func checkWritten(t *testing.T, g *otatest.Gokrazy, im *otatest.Image) {
	t.Helper()
	for part, want := range map[string][]byte{"root": im.Root, "boot": im.Boot, "mbr": im.MBR} {
		got, err := os.ReadFile(filepath.Join(g.Dir, part))
		if err != nil {
			t.Fatalf("%s not written: %v", part, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: gokrazy got %d bytes, not the image's %d-byte partition", part, len(got), len(want))
		}
	}
	// gok's order: the inactive root first, then boot, then MBR.
	if got, want := g.Calls(), []string{"root", "boot", "mbr", "switch", "reboot"}; !slices.Equal(got, want) {
		t.Errorf("gokrazy's endpoints called %v, want %v", got, want)
	}
}

func TestApply(t *testing.T) {
	for _, tc := range []struct {
		name   string
		layout ota.Layout
		root   int64
	}{
		{"small layout", small, 1<<20 + 123},
		{"gokrazy's layout", ota.GokrazyLayout, 3<<20 + 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, g := setup(t, tc.layout, "right")
			im, err := otatest.WriteImage(filepath.Join(t.TempDir(), "oepc-amd64.img"), tc.layout, "amd64", tc.root)
			if err != nil {
				t.Fatal(err)
			}
			if err := apply(t, u, im.Path); err != nil {
				t.Fatal(err)
			}
			checkWritten(t, g, im)
			p := u.Status()
			if p.State != "rebooting" || len(p.Parts) != 3 {
				t.Fatalf("status %+v", p)
			}
			for _, pp := range p.Parts {
				if !pp.Done || pp.Written != pp.Total {
					t.Errorf("part %+v not fully written", pp)
				}
			}
			st, _ := os.Stat(im.Path)
			if p.Received != st.Size() {
				t.Errorf("received %d of %d bytes", p.Received, st.Size())
			}
			if left, _ := filepath.Glob(filepath.Join(filepath.Dir(im.Path), "ota-boot-*")); len(left) > 0 {
				t.Errorf("spool files left: %v", left)
			}
		})
	}
}

func TestWrongFiles(t *testing.T) {
	dir := t.TempDir()
	arm, err := otatest.WriteImage(filepath.Join(dir, "oepc-arm64.img"), small, "arm64", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	good, err := otatest.WriteImage(filepath.Join(dir, "good.img"), small, "amd64", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, edit func(b []byte) []byte) string {
		b, err := os.ReadFile(good.Path)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, edit(b), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	noSig := write("nosig.img", func(b []byte) []byte { b[510] = 0; return b })
	noSquash := write("nosquash.img", func(b []byte) []byte { copy(b[small.RootOffset:], "xxxx"); return b })
	hugeRoot := write("hugeroot.img", func(b []byte) []byte { b[small.RootOffset+47] = 1; return b })
	cut := write("cut.img", func(b []byte) []byte { return b[:small.RootOffset+200<<10] })
	noKernel := write("nokernel.img", func(b []byte) []byte { clear(b[small.BootOffset+8192 : small.BootOffset+9000]); return b })
	gz := filepath.Join(dir, "image.img.gz")
	os.WriteFile(gz, append([]byte{0x1f, 0x8b}, bytes.Repeat([]byte{1}, int(small.RootOffset+8192))...), 0o644)
	tiny := filepath.Join(dir, "notes.txt")
	os.WriteFile(tiny, []byte("hello"), 0o644)

	for _, tc := range []struct{ path, want string }{
		{arm.Path, "this image is for arm64 (a Raspberry Pi), but this box is amd64"},
		{noSig, "not a disk image"},
		{gz, "not a disk image"},
		{tiny, "too small"},
		{noSquash, "no root file system"},
		{hugeRoot, "does not fit"},
		{cut, "file ended before"},
		{noKernel, "no Linux kernel"},
	} {
		u, g := setup(t, small, "right")
		err := apply(t, u, tc.path)
		var ie *ota.ImageError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an ImageError with %q", filepath.Base(tc.path), err, tc.want)
		}
		if tc.path != cut && len(g.Calls()) > 0 {
			t.Errorf("%s: gokrazy was called: %v", filepath.Base(tc.path), g.Calls())
		}
		if g.Switched() || g.Reboots() > 0 {
			t.Errorf("%s: switched or rebooted", filepath.Base(tc.path))
		}
		if p := u.Status(); p.State != "failed" || p.Error == "" {
			t.Errorf("%s: status %+v", filepath.Base(tc.path), p)
		}
	}
}

func TestWrongPassword(t *testing.T) {
	u, g := setup(t, small, "wrong")
	im, err := otatest.WriteImage(filepath.Join(t.TempDir(), "a.img"), small, "amd64", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	err = apply(t, u, im.Path)
	if err == nil || !strings.Contains(err.Error(), "refused its password") {
		t.Fatalf("got %v", err)
	}
	if len(g.Calls()) > 0 {
		t.Fatalf("written with a wrong password: %v", g.Calls())
	}
}

func TestBusy(t *testing.T) {
	u, _ := setup(t, small, "right")
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- u.Apply(context.Background(), pr, -1) }()
	pw.Write(make([]byte, 100)) // the update now runs, waiting for more
	if err := u.Apply(context.Background(), bytes.NewReader(nil), 0); !errors.Is(err, ota.ErrBusy) {
		t.Fatalf("second update: %v, want ErrBusy", err)
	}
	pw.Close()
	if err := <-done; err == nil {
		t.Fatal("a cut-off upload succeeded")
	}
}

func TestLeftSpoolRemoved(t *testing.T) {
	dir := t.TempDir()
	left := filepath.Join(dir, "ota-boot-123.tmp")
	keep := filepath.Join(dir, "other.tmp")
	for _, p := range []string{left, keep} {
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ota.New(ota.Config{Target: func(context.Context) (*updater.Target, error) { return nil, errors.New("unused") }, SpoolDir: dir}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(left); !os.IsNotExist(err) {
		t.Errorf("the spool file of an unfinished update is still there: %v", err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("another file was removed: %v", err)
	}
}

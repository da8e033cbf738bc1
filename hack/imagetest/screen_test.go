package imagetest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	build "oepc.dev/oepcos/hack/image"
	"oepc.dev/oepcos/hdmi/screen"
	"oepc.dev/oepcos/hdmi/screen/screentest"
	"oepc.dev/oepcos/packages/hdmid"
	"oepc.dev/oepcos/packages/health"
)

// hdmidWithoutDisplay: hdmid honestly degraded because the VM has no
// display it can see (the boot test's VM is headless). Any other
// degradation of hdmid still fails the boot test.
func hdmidWithoutDisplay(r health.Report) bool {
	return r.Name == "hdmid" && r.Status == health.Degraded && strings.Contains(r.Detail, "no display")
}

// TestScreenImage boots the amd64 image under UEFI with a virtual VGA
// display (OVMF's GOP framebuffer, which the kernel's efifb driver turns
// into /dev/fb0) and finds the status screen in QEMU's screendump: the
// background where the layout has none, ink in every text region, and a
// QR code that Debian's zbarimg decodes to the box's web UI address.
// make test-screen-image runs it (OEPC_SCREEN_IMAGE_TEST=1).
func TestScreenImage(t *testing.T) {
	if os.Getenv("OEPC_SCREEN_IMAGE_TEST") != "1" {
		t.Skip("builds and boots the image under QEMU for minutes; run with OEPC_SCREEN_IMAGE_TEST=1 (make test-screen-image)")
	}
	requireTools(t, "qemu-system-x86_64", "mkfs.ext4", "zbarimg")
	if _, err := os.Stat(OVMF); err != nil {
		t.Fatalf("%s missing; run the test through make test-screen-image (installs ovmf)", OVMF)
	}
	repo := repoRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "scr") // short: the monitor socket's path
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)

	apiPort, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	gkPort, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	in, err := build.Prepare(build.Options{
		Repo: repo, Instance: "oepc-amd64", WorkDir: filepath.Join(dir, "work"), Version: "screentest-1",
		UpdateHost: "127.0.0.1", UpdatePort: fmt.Sprint(gkPort), Log: &testWriter{t: t, prefix: "build: "},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	img := filepath.Join(dir, "oepc-amd64.img")
	if _, err := in.Build(ctx, img, 0); err != nil {
		t.Fatal(err)
	}
	mon := filepath.Join(dir, "mon.sock")
	vm, err := StartVM(ctx, VMConfig{
		Image: img, Log: filepath.Join(dir, "serial.log"), UEFI: true,
		HostFwd: map[int]int{7070: apiPort, gkPort: gkPort},
		Extra:   []string{"-vga", "std", "-monitor", "unix:" + mon + ",server,nowait"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Stop()
	defer func() {
		if t.Failed() {
			t.Logf("serial console (tail):\n%s", vm.Tail(6000))
		}
	}()
	secrets, err := vm.WaitSecrets(ctx, 0, 2*bootTimeout)
	if err != nil {
		t.Fatalf("per-box secrets: %v", err)
	}
	box := &Box{API: fmt.Sprintf("http://127.0.0.1:%d", apiPort), Gokrazy: fmt.Sprintf("http://127.0.0.1:%d", gkPort),
		Token: secrets.Token, Password: secrets.Password}

	checkStatusScreen(t, ctx, box, mon, dir)
}

// checkStatusScreen finds the status screen hdmid draws on efifb's
// /dev/fb0 in QEMU's screendump (the monitor socket mon): hdmid reports it,
// the picture has the background where the layout has none and ink in
// every text region, the QR code decodes (zbarimg) to the box's web UI
// address, and the pairing region is, pixel for pixel, the box's pairing
// code as oepcd logged it. TestBoot's UEFI boot and TestScreenImage run it.
func checkStatusScreen(t *testing.T, ctx context.Context, box *Box, mon, dir string) {
	t.Helper()
	zbar := screentest.Zbarimg(t)
	var code string
	// gokrazy keeps only oepcd's recent log: a box that has logged much
	// since its start may have lost the line, and then the pairing region
	// is checked for ink only (and the test says so).
	err := WaitFor(ctx, 45*time.Second, 2*time.Second, func(ctx context.Context) error {
		l, err := box.ServiceLog(ctx, "/user/oepcd")
		if err != nil {
			return err
		}
		m := pairingRE.FindStringSubmatch(l)
		if m == nil {
			return errors.New("oepcd has not logged its pairing code")
		}
		code = m[1]
		return nil
	})
	if err != nil {
		t.Logf("NOT CHECKED pixel for pixel: the pairing code (%v); its region is checked for ink only", err)
	}
	// hdmid draws on efifb's /dev/fb0 and says so.
	var rep health.Report
	err = WaitFor(ctx, bootTimeout, time.Second, func(ctx context.Context) error {
		reps, err := box.Health(ctx)
		if err != nil {
			return err
		}
		for _, r := range reps {
			if r.Name == "hdmid" {
				rep = r
				if r.Status == health.OK && strings.Contains(r.Detail, "/dev/fb0") {
					return nil
				}
				return fmt.Errorf("hdmid is %s: %s", r.Status, r.Detail)
			}
		}
		return errors.New("no hdmid in /v1/health")
	})
	if err != nil {
		t.Fatalf("hdmid: %v", err)
	}
	t.Logf("hdmid: %s", rep.Detail)

	// The screen, as QEMU shows it, once oepcd's state is on it (the
	// web UI's address: the QR code decodes).
	var last string
	err = WaitFor(ctx, 90*time.Second, 2*time.Second, func(ctx context.Context) error {
		shot := filepath.Join(dir, "shot.ppm")
		if err := screendump(ctx, mon, shot); err != nil {
			return err
		}
		pic, err := readPPM(shot)
		if err != nil {
			return err
		}
		png := filepath.Join(dir, "shot.png")
		screentest.SavePNG(t, pic, png)
		if err := checkScreen(pic); err != nil {
			last = err.Error()
			return err
		}
		// Until hdmid has oepcd's answers its footer says it cannot
		// reach oepcd: wait for the box's own state.
		if regionIs(pic, screen.Status{Problem: hdmid.ProblemNoOepcd}, "footer") {
			last = "the screen says: " + hdmid.ProblemNoOepcd
			return errors.New(last)
		}
		url := screentest.DecodeQR(t, zbar, png)
		if url != "http://10.0.2.15/" { // the web UI, on port 80
			return fmt.Errorf("QR code decodes to %q, want the box's address on the VM's network", url)
		}
		if code != "" { // else checkScreen found ink in the pairing region
			if err := pairingShown(pic, code); err != nil {
				last = err.Error()
				return err
			}
		}
		t.Logf("screendump %v: status screen found, QR code %s, pairing code %s", pic.Bounds().Size(), url, code)
		if d := os.Getenv("OEPC_SCREEN_SHOT"); d != "" {
			screentest.SavePNG(t, pic, d)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("status screen not found in the screendump: %v (%s)", err, last)
	}
}

var pairingRE = regexp.MustCompile(`pairing code for phones and the web UI.*? code=(\S+)`)

// regionIs reports whether region name of pic is, pixel for pixel, that
// region of st drawn at pic's size.
func regionIs(pic *image.RGBA, st screen.Status, name string) bool {
	r, err := screen.NewRenderer()
	if err != nil {
		return false
	}
	want := r.Render(pic.Bounds().Dx(), pic.Bounds().Dy(), st)
	reg := screen.LayoutFor(pic.Bounds()).Regions()[name]
	for y := reg.Min.Y; y < reg.Max.Y; y++ {
		for x := reg.Min.X; x < reg.Max.X; x++ {
			if pic.RGBAAt(x, y) != want.RGBAAt(x, y) {
				return false
			}
		}
	}
	return true
}

// pairingShown compares the pairing region of pic with the region drawn
// for code: the screen's Render is pure and each region depends only on
// its own part of the status, so the code is on the TV exactly when the
// pixels agree.
func pairingShown(pic *image.RGBA, code string) error {
	r, err := screen.NewRenderer()
	if err != nil {
		return err
	}
	want := r.Render(pic.Bounds().Dx(), pic.Bounds().Dy(), screen.Status{PairingCode: code})
	reg := screen.LayoutFor(pic.Bounds()).Pairing
	diff := 0
	for y := reg.Min.Y; y < reg.Max.Y; y++ {
		for x := reg.Min.X; x < reg.Max.X; x++ {
			if pic.RGBAAt(x, y) != want.RGBAAt(x, y) {
				diff++
			}
		}
	}
	if diff > reg.Dx()*reg.Dy()/200 {
		return fmt.Errorf("the pairing region differs from the code %s drawn at this size in %d of %d pixels", code, diff, reg.Dx()*reg.Dy())
	}
	return nil
}

// checkScreen compares a screendump with the layout, by region.
func checkScreen(pic *image.RGBA) error {
	l := screen.LayoutFor(pic.Bounds())
	bg := 0
	for y := 0; y < pic.Bounds().Dy(); y += 4 {
		for x := 0; x < pic.Bounds().Dx(); x += 4 {
			if pic.RGBAAt(x, y) == screen.Background {
				bg++
			}
		}
	}
	total := (pic.Bounds().Dy() / 4) * (pic.Bounds().Dx() / 4)
	if bg < total*6/10 {
		return fmt.Errorf("only %d of %d sampled pixels are the screen's background", bg, total)
	}
	for _, name := range []string{"name", "network", "storage", "home", "chain", "pairing", "qr", "url"} {
		r := l.Regions()[name]
		if n := screentest.Ink(pic, r); n < r.Dx()*r.Dy()/200 {
			return fmt.Errorf("region %s %v has %d inked pixels", name, r, n)
		}
	}
	if n := screentest.Count(pic, l.QR, color.RGBA{0xff, 0xff, 0xff, 0xff}); n < l.QR.Dx()*l.QR.Dy()/4 {
		return fmt.Errorf("no QR code: %d white pixels in its region", n)
	}
	return nil
}

// screendump asks QEMU's monitor (a unix socket) for a screendump (PPM).
func screendump(ctx context.Context, sock, path string) error {
	os.Remove(path)
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", sock)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(c)
	prompt := func() error {
		var seen []byte
		for !bytes.HasSuffix(seen, []byte("(qemu) ")) {
			b, err := r.ReadByte()
			if err != nil {
				return fmt.Errorf("monitor: %w", err)
			}
			seen = append(seen, b)
		}
		return nil
	}
	if err := prompt(); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(c, "screendump %s\n", path); err != nil {
		return err
	}
	if err := prompt(); err != nil {
		return err
	}
	// The file is complete once the monitor answers.
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("screendump wrote nothing: %w", err)
	}
	return nil
}

// readPPM reads a binary PPM (P6, maxval 255), QEMU's screendump format.
func readPPM(path string) (*image.RGBA, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var fields []int
	var magic string
	for len(fields) < 3 {
		tok, err := ppmToken(r)
		if err != nil {
			return nil, fmt.Errorf("ppm header: %w", err)
		}
		if magic == "" {
			magic = tok
			if magic != "P6" {
				return nil, fmt.Errorf("not a binary PPM: %q", magic)
			}
			continue
		}
		n, err := strconv.Atoi(tok)
		if err != nil || n <= 0 || n > 16384 {
			return nil, fmt.Errorf("ppm header: bad number %q", tok)
		}
		fields = append(fields, n)
	}
	w, h := fields[0], fields[1]
	if fields[2] != 255 {
		return nil, fmt.Errorf("ppm maxval %d", fields[2])
	}
	pix := make([]byte, w*h*3)
	if _, err := io.ReadFull(r, pix); err != nil {
		return nil, fmt.Errorf("ppm pixels: %w", err)
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < w*h; i++ {
		img.Pix[i*4], img.Pix[i*4+1], img.Pix[i*4+2], img.Pix[i*4+3] = pix[i*3], pix[i*3+1], pix[i*3+2], 0xff
	}
	return img, nil
}

// ppmToken reads one header token; the single whitespace after the last
// one is consumed with it.
func ppmToken(r *bufio.Reader) (string, error) {
	var tok []byte
	for {
		b, err := r.ReadByte()
		if err != nil {
			return "", err
		}
		switch {
		case b == '#' && len(tok) == 0:
			if _, err := r.ReadString('\n'); err != nil {
				return "", err
			}
		case b == ' ' || b == '\n' || b == '\r' || b == '\t':
			if len(tok) > 0 {
				return string(tok), nil
			}
		default:
			tok = append(tok, b)
		}
	}
}

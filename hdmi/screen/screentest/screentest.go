// Package screentest holds what the status screen's tests share: a full
// example Status, ink counting by region, and decoding a picture's QR code
// with Debian's zbarimg (an independent decoder).
package screentest

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"oepc.dev/oepcos/hdmi/screen"
	"oepc.dev/oepcos/packages/atomicfile"
)

// Full is a box with something to say in every section: three home
// devices and a light node at a height.
func Full() screen.Status {
	return screen.Status{
		Home: screen.Home{Enabled: true, Devices: []screen.Device{
			{Name: "Floor lamp", State: "on"}, {Name: "Ceiling", State: "40%"}, {Name: "Porch", State: "off"}}},
		Chain:       screen.Chain{Enabled: true, Height: 1_234_567},
		Name:        "oepc-living-room",
		Network:     screen.Network{Known: true, Joined: true, Direct: 5, Relayed: 1, Friends: 3, FriendsOnline: 2},
		Storage:     screen.Storage{Known: true, Used: 12_345_678_901, Quota: 500_000_000_000, Hosted: 4_500_000_000, HostedFor: 2},
		PairingCode: "482-913",
		WebURL:      "http://192.168.178.23:7070/",
		Display:     "HDMI-A-1 • 1920×1080 at 60 Hz",
	}
}

// Ink counts the pixels of r in img that are not the background.
func Ink(img *image.RGBA, r image.Rectangle) int {
	n := 0
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if img.RGBAAt(x, y) != screen.Background {
				n++
			}
		}
	}
	return n
}

// Count counts the pixels of r in img that are exactly c.
func Count(img *image.RGBA, r image.Rectangle, c color.RGBA) int {
	n := 0
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if img.RGBAAt(x, y) == c {
				n++
			}
		}
	}
	return n
}

// InkHeight is the number of rows between the first and the last row of r
// that carry ink (0 for none).
func InkHeight(img *image.RGBA, r image.Rectangle) int {
	top, bottom := -1, -1
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		if Ink(img, image.Rect(r.Min.X, y, r.Max.X, y+1)) > 0 {
			if top < 0 {
				top = y
			}
			bottom = y
		}
	}
	if top < 0 {
		return 0
	}
	return bottom - top + 1
}

// SavePNG writes img to path (atomically), uncompressed: image/png's
// compression takes seconds per 1080p picture under the race detector.
func SavePNG(t testing.TB, img image.Image, path string) {
	t.Helper()
	var b bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.NoCompression}
	if err := enc.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.Write(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Zbarimg is the path of Debian's zbarimg (package zbar-tools; `make
// screen-deps` installs it). Without it the test is skipped, or fails under
// CI, where it must be there.
func Zbarimg(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("zbarimg")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("zbarimg not found: install Debian's zbar-tools (hack/install-deps.sh zbar-tools)")
		}
		t.Skip("zbarimg not found: install Debian's zbar-tools (hack/install-deps.sh zbar-tools)")
	}
	return p
}

// DecodeQR runs zbarimg on the PNG at path and returns the one QR code's
// text; it fails the test when there is none or more than one.
func DecodeQR(t testing.TB, zbar, path string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, zbar, "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", path).Output()
	if err != nil {
		t.Fatalf("zbarimg %s: %v (%s)", path, err, out)
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) != 1 {
		t.Fatalf("zbarimg found %d codes: %q", len(lines), out)
	}
	return lines[0]
}

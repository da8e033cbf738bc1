package screen_test

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"oepc.dev/oepcos/hdmi/screen"
	"oepc.dev/oepcos/hdmi/screen/screentest"
)

func renderer(t testing.TB) *screen.Renderer {
	t.Helper()
	r, err := screen.NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var sizes = []image.Point{{1920, 1080}, {1280, 720}}

// Every part of the layout carries ink, and nothing is drawn outside the
// parts (the margins and the gutter stay background).
func TestRenderRegions(t *testing.T) {
	r := renderer(t)
	st := screentest.Full()
	for _, sz := range sizes {
		img := r.Render(sz.X, sz.Y, st)
		l := screen.LayoutFor(img.Bounds())
		for name, rect := range l.Regions() {
			if n := screentest.Ink(img, rect); n < rect.Dx()*rect.Dy()/200 {
				t.Errorf("%v: region %s %v has %d inked pixels, too few", sz, name, rect, n)
			}
		}
		// Nothing outside the regions.
		outside := 0
		b := img.Bounds()
		regions := l.Regions()
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				o := img.PixOffset(x, y)
				if [4]byte(img.Pix[o:o+4]) == [4]byte{screen.Background.R, screen.Background.G, screen.Background.B, 0xff} {
					continue
				}
				in := false
				for _, rect := range regions {
					if image.Pt(x, y).In(rect) {
						in = true
						break
					}
				}
				if !in {
					outside++
				}
			}
		}
		if outside > 0 {
			t.Errorf("%v: %d inked pixels outside the layout's regions", sz, outside)
		}
	}
}

// The type is large enough to read from a sofa: the value lines' capitals
// are at least 1/28 of the picture's height at both sizes, the pairing
// code's at least 1/14.
func TestTypeSize(t *testing.T) {
	r := renderer(t)
	for _, sz := range sizes {
		img := r.Render(sz.X, sz.Y, screentest.Full())
		l := screen.LayoutFor(img.Bounds())
		n := l.Network
		// The value line is the middle band of a section.
		value := image.Rect(n.Min.X, n.Min.Y+n.Dy()*26/100, n.Max.X, n.Min.Y+n.Dy()*66/100)
		if h := screentest.InkHeight(img, value); h < sz.Y/28 {
			t.Errorf("%v: value line %d px tall, want >= %d", sz, h, sz.Y/28)
		}
		p := l.Pairing
		code := image.Rect(p.Min.X, p.Min.Y+p.Dy()*30/100, p.Max.X, p.Max.Y)
		if h := screentest.InkHeight(img, code); h < sz.Y/14 {
			t.Errorf("%v: pairing code %d px tall, want >= %d", sz, h, sz.Y/14)
		}
	}
}

// The QR code decodes, with Debian's zbarimg, to the web UI's address.
func TestQRDecodes(t *testing.T) {
	zbar := screentest.Zbarimg(t)
	r := renderer(t)
	for _, url := range []string{"http://192.168.178.23:7070/", "https://oepc-living-room.local:7443/setup?x=1"} {
		st := screentest.Full()
		st.WebURL = url
		for _, sz := range sizes {
			img := r.Render(sz.X, sz.Y, st)
			p := filepath.Join(t.TempDir(), "qr.png")
			screentest.SavePNG(t, img, p)
			got := screentest.DecodeQR(t, zbar, p)
			if got != url {
				t.Errorf("%v: QR decodes to %q, want %q", sz, got, url)
			}
		}
	}
}

// A change of one value changes the pixels of its own region only.
func TestChangeStaysInRegion(t *testing.T) {
	r := renderer(t)
	a := screentest.Full()
	for _, c := range []struct {
		region string
		change func(*screen.Status)
	}{
		{"storage", func(s *screen.Status) { s.Storage.Used += 3_000_000_000 }},
		{"network", func(s *screen.Status) { s.Network.Relayed++ }},
		{"chain", func(s *screen.Status) { s.Chain.Height++ }},
		{"chain", func(s *screen.Status) { s.Chain = screen.Chain{Reason: "the light node is not up yet"} }},
		{"home", func(s *screen.Status) { s.Home.Devices[1].State = "41%" }},
		{"home", func(s *screen.Status) { s.Home = screen.Home{Reason: "homed is not answering"} }},
		{"home", func(s *screen.Status) {
			s.Home.Devices = append(s.Home.Devices, screen.Device{Name: "Hall keypad", State: "off"})
		}},
		{"pairing", func(s *screen.Status) { s.PairingCode = "111-222" }},
		{"footer", func(s *screen.Status) { s.Problem = "Cannot reach oepcd" }},
	} {
		b := screentest.Full()
		c.change(&b)
		if a.Equal(b) {
			t.Fatalf("%s: Equal says the changed status is the same", c.region)
		}
		ia, ib := r.Render(1280, 720, a), r.Render(1280, 720, b)
		l := screen.LayoutFor(ia.Bounds())
		rect := l.Regions()[c.region]
		changed, outside := 0, 0
		for y := 0; y < 720; y++ {
			ra, rb := ia.Pix[y*ia.Stride:(y+1)*ia.Stride], ib.Pix[y*ib.Stride:(y+1)*ib.Stride]
			if string(ra) == string(rb) {
				continue
			}
			for x := 0; x < 1280; x++ {
				if [4]byte(ra[x*4:x*4+4]) != [4]byte(rb[x*4:x*4+4]) {
					changed++
					if !image.Pt(x, y).In(rect) {
						outside++
					}
				}
			}
		}
		if changed == 0 {
			t.Errorf("%s: the change drew nothing new", c.region)
		}
		if outside > 0 {
			t.Errorf("%s: %d pixels changed outside the region", c.region, outside)
		}
	}
}

// The zero Status (oepcd not reached yet) still draws a screen: the name
// placeholder and the sections, and no QR code (no white square).
func TestZeroStatus(t *testing.T) {
	r := renderer(t)
	img := r.Render(1280, 720, screen.Status{})
	l := screen.LayoutFor(img.Bounds())
	for _, name := range []string{"name", "network", "storage", "home", "chain", "pairing", "url"} {
		if screentest.Ink(img, l.Regions()[name]) == 0 {
			t.Errorf("region %s empty", name)
		}
	}
	if n := screentest.Count(img, l.QR, color.RGBA{0xff, 0xff, 0xff, 0xff}); n > 0 {
		t.Errorf("%d white pixels in the QR region without a URL", n)
	}
}

// Any size draws without a panic; odd shapes keep the layout inside.
func TestOddSizes(t *testing.T) {
	r := renderer(t)
	long := screentest.Full()
	long.Name = strings.Repeat("a very long box name ", 20)
	long.WebURL = "http://" + strings.Repeat("x", 300) + ".example/"
	for _, sz := range []image.Point{{0, 0}, {1, 1}, {15, 8}, {640, 480}, {1024, 768}, {1280, 1024}, {3840, 2160}, {720, 1280}} {
		img := r.Render(sz.X, sz.Y, long)
		if img.Bounds().Size() != sz {
			t.Errorf("size %v, want %v", img.Bounds().Size(), sz)
		}
		if sz.X >= 640 {
			l := screen.LayoutFor(img.Bounds())
			if !l.Frame.In(img.Bounds()) || l.Frame.Dx() < sz.X*9/10 && l.Frame.Dy() < sz.Y*9/10 {
				t.Errorf("%v: frame %v does not fill the picture", sz, l.Frame)
			}
			if n := screentest.Ink(img, l.Name); n == 0 {
				t.Errorf("%v: long name not drawn", sz)
			}
		}
	}
}

func TestDeterministic(t *testing.T) {
	r := renderer(t)
	a := r.Render(1280, 720, screentest.Full())
	b := r.Render(1280, 720, screentest.Full())
	if string(a.Pix) != string(b.Pix) {
		t.Error("the same status drew two different pictures")
	}
}

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", -5: "0 B", 999: "999 B", 1000: "1.0 KB", 12_345_678_901: "12 GB", 4_500_000_000: "4.5 GB", 2_000_000_000_000: "2.0 TB"} {
		if got := screen.Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestWritePNGs keeps pictures for a person to look at when
// OEPC_SCREEN_PNG_DIR is set.
func TestWritePNGs(t *testing.T) {
	dir := os.Getenv("OEPC_SCREEN_PNG_DIR")
	if dir == "" {
		t.Skip("set OEPC_SCREEN_PNG_DIR to keep the pictures")
	}
	r := renderer(t)
	many := screentest.Full()
	many.Home.Devices = manyDevices(14)
	for name, st := range map[string]screen.Status{"full": screentest.Full(), "zero": {}, "many": many} {
		for _, sz := range sizes {
			f, err := os.Create(filepath.Join(dir, name+"-"+strconv.Itoa(sz.X)+".png"))
			if err != nil {
				t.Fatal(err)
			}
			png.Encode(f, r.Render(sz.X, sz.Y, st))
			f.Close()
		}
	}
}

func manyDevices(n int) []screen.Device {
	var ds []screen.Device
	for i := range n {
		st := []string{"on", "off", "40%"}[i%3]
		ds = append(ds, screen.Device{Name: fmt.Sprintf("Lamp %d", i+1), State: st})
	}
	return ds
}

// The home section lists the devices with their states: all of them when
// they fit on its two lines, else as many as fit and "+N more", at both
// sizes; nothing is cut in the middle of a device.
func TestHomeText(t *testing.T) {
	r := renderer(t)
	for _, sz := range sizes {
		v, d := r.HomeText(sz.X, sz.Y, screentest.Full().Home)
		if v+" • "+d != "Floor lamp on • Ceiling 40% • Porch off" && v != "Floor lamp on • Ceiling 40% • Porch off" {
			t.Errorf("%v: three devices shown as %q / %q", sz, v, d)
		}
		for _, n := range []int{5, 14, 60} {
			ds := manyDevices(n)
			v, d := r.HomeText(sz.X, sz.Y, screen.Home{Enabled: true, Devices: ds})
			shown := strings.Split(v, " • ")
			det := strings.Split(d, " • ")
			more := 0
			if last := det[len(det)-1]; strings.HasPrefix(last, "+") {
				if _, err := fmt.Sscanf(last, "+%d more", &more); err != nil {
					t.Fatalf("%v: %q", sz, last)
				}
				det = det[:len(det)-1]
			}
			if d != "" {
				shown = append(shown, det...)
			}
			for i, s := range shown {
				if want := ds[i].Name + " " + ds[i].State; s != want {
					t.Errorf("%v, %d devices: item %d is %q, want %q", sz, n, i, s, want)
				}
			}
			if len(shown)+more != n {
				t.Errorf("%v, %d devices: %d shown and +%d more (%q / %q)", sz, n, len(shown), more, v, d)
			}
			if n >= 14 && more == 0 {
				t.Errorf("%v: %d devices all on two lines? %q / %q", sz, n, v, d)
			}
			if n == 5 && more != 0 {
				t.Errorf("%v: 5 short devices do not fit: %q / %q", sz, v, d)
			}
		}
	}
	for _, c := range []struct {
		h    screen.Home
		v, d string
	}{
		{screen.Home{Enabled: true}, "No devices yet", "add one in the web UI or with oepc home add"},
		{screen.Home{Reason: "homed is not answering"}, "Not available", "homed is not answering"},
		{screen.Home{}, "Home unknown", "waiting for oepcd"},
	} {
		v, d := r.HomeText(1280, 720, c.h)
		if v != c.v || d != c.d {
			t.Errorf("%+v: %q / %q, want %q / %q", c.h, v, d, c.v, c.d)
		}
	}
}

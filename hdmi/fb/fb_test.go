package fb

import (
	"errors"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"testing"
	"unsafe"
)

func TestStructSizes(t *testing.T) {
	// The kernel's sizes on 64-bit Linux (amd64, arm64).
	if s := unsafe.Sizeof(varScreenInfo{}); s != 160 {
		t.Errorf("fb_var_screeninfo is %d bytes, want 160", s)
	}
	if unsafe.Sizeof(uintptr(0)) == 8 {
		if s := unsafe.Sizeof(fixScreenInfo{}); s != 80 {
			t.Errorf("fb_fix_screeninfo is %d bytes, want 80", s)
		}
		if o := unsafe.Offsetof(fixScreenInfo{}.LineLength); o != 48 {
			t.Errorf("line_length at %d, want 48", o)
		}
		if o := unsafe.Offsetof(fixScreenInfo{}.MMIOStart); o != 56 {
			t.Errorf("mmio_start at %d, want 56", o)
		}
	}
}

func testImage() *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, 3, 2))
	img.Set(0, 0, color.RGBA{0xff, 0, 0, 0xff})
	img.Set(1, 0, color.RGBA{0, 0xff, 0, 0xff})
	img.Set(2, 0, color.RGBA{0, 0, 0xff, 0xff})
	img.Set(0, 1, color.RGBA{0x12, 0x34, 0x56, 0xff})
	img.Set(1, 1, color.RGBA{0xff, 0xff, 0xff, 0xff})
	return img
}

func TestEncodeXRGB8888(t *testing.T) {
	info := XRGB8888(3, 2)
	info.Stride = 16 // padded lines
	b, err := Encode(nil, info, testImage())
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{
		0, 0, 0xff, 0, 0, 0xff, 0, 0, 0xff, 0, 0, 0, 0, 0, 0, 0,
		0x56, 0x34, 0x12, 0, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	}
	if string(b) != string(want) {
		t.Errorf("got  % x\nwant % x", b, want)
	}
}

func TestEncodeRGB565(t *testing.T) {
	b, err := Encode(nil, RGB565(3, 2), testImage())
	if err != nil {
		t.Fatal(err)
	}
	px := func(x, y int) uint16 { o := (y*3 + x) * 2; return uint16(b[o]) | uint16(b[o+1])<<8 }
	for _, c := range []struct {
		x, y int
		want uint16
	}{
		{0, 0, 0xf800}, {1, 0, 0x07e0}, {2, 0, 0x001f},
		{0, 1, 0x12>>3<<11 | 0x34>>2<<5 | 0x56>>3}, {1, 1, 0xffff}, {2, 1, 0},
	} {
		if got := px(c.x, c.y); got != c.want {
			t.Errorf("pixel %d,%d = %#04x, want %#04x", c.x, c.y, got, c.want)
		}
	}
}

// A BGR 32-bit format goes through the general path and must agree with
// the channels it names.
func TestEncodeBGR(t *testing.T) {
	info := Info{Width: 3, Height: 2, BitsPerPixel: 32, Stride: 12, Red: Channel{0, 8}, Green: Channel{8, 8}, Blue: Channel{16, 8}}
	b, err := Encode(nil, info, testImage())
	if err != nil {
		t.Fatal(err)
	}
	if got := b[12:16]; got[0] != 0x12 || got[1] != 0x34 || got[2] != 0x56 {
		t.Errorf("BGR pixel 0,1 = % x", got)
	}
}

// A picture smaller than the framebuffer leaves black; one larger is cut.
func TestEncodeSizes(t *testing.T) {
	b, err := Encode(nil, XRGB8888(4, 3), testImage())
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 48 || b[3*4+2] != 0 || b[2*16] != 0 {
		t.Errorf("uncovered pixels not black: % x", b)
	}
	big := image.NewRGBA(image.Rect(0, 0, 10, 10))
	if _, err := Encode(nil, XRGB8888(4, 3), big); err != nil {
		t.Fatal(err)
	}
}

func TestValidate(t *testing.T) {
	for _, info := range []Info{
		{},
		{Width: 10, Height: 10, BitsPerPixel: 8, Stride: 10, Red: Channel{5, 3}, Green: Channel{2, 3}, Blue: Channel{0, 2}},
		{Width: 10, Height: 10, BitsPerPixel: 32, Stride: 20, Red: Channel{16, 8}, Green: Channel{8, 8}, Blue: Channel{0, 8}},
		{Width: 10, Height: 10, BitsPerPixel: 16, Stride: 20, Red: Channel{12, 8}, Green: Channel{5, 6}, Blue: Channel{0, 5}},
	} {
		if err := info.Validate(); err == nil {
			t.Errorf("%+v: no error", info)
		}
	}
}

func TestInfoFrom(t *testing.T) {
	v := varScreenInfo{XRes: 1024, YRes: 768, XResVirtual: 1024, YResVirtual: 1536, YOffset: 768, BitsPerPixel: 32,
		Red: bitfield{16, 8, 0}, Green: bitfield{8, 8, 0}, Blue: bitfield{0, 8, 0}}
	fx := fixScreenInfo{SmemLen: 1024 * 1536 * 4, Visual: visualTrueColor, LineLength: 4096}
	copy(fx.ID[:], "bochs-drmdrmfb")
	i, err := infoFrom(v, fx)
	if err != nil {
		t.Fatal(err)
	}
	if i.ID != "bochs-drmdrmfb" || i.Width != 1024 || i.Offset != 768*4096 || i.Red != (Channel{16, 8}) {
		t.Errorf("info %+v", i)
	}
	fx.SmemLen = 1024 * 768 * 4
	if _, err := infoFrom(v, fx); err == nil {
		t.Error("a visible area past the memory was accepted")
	}
	fx.Visual = 3 // pseudocolour
	if _, err := infoFrom(v, fx); err == nil {
		t.Error("a pseudocolour visual was accepted")
	}
}

func TestOpenNotFramebuffer(t *testing.T) {
	p := filepath.Join(t.TempDir(), "fb0")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(p)
	if !errors.Is(err, ErrNotFramebuffer) {
		t.Fatalf("Open(plain file) = %v, want ErrNotFramebuffer", err)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open(missing) = %v", err)
	}
}

// /dev/fb0 when this machine has one: the ioctls answer a usable format.
func TestOpenRealDevice(t *testing.T) {
	if _, err := os.Stat("/dev/fb0"); err != nil {
		t.Skip("no /dev/fb0 here")
	}
	f, err := Open("/dev/fb0")
	if err != nil {
		t.Skipf("/dev/fb0: %v", err)
	}
	defer f.Close()
	t.Logf("/dev/fb0: %s", f.Info())
}

func TestOpenFileShow(t *testing.T) {
	p := filepath.Join(t.TempDir(), "fb")
	f, err := OpenFile(p, RGB565(3, 2))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Show(testImage()); err != nil {
		t.Fatal(err)
	}
	f.Close()
	b, _ := os.ReadFile(p)
	if len(b) != 12 || b[0] != 0x00 || b[1] != 0xf8 {
		t.Fatalf("file holds % x", b)
	}
}

func TestGraphicsModeNotConsole(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tty0")
	os.WriteFile(p, nil, 0o644)
	if _, err := GraphicsMode(p); err == nil {
		t.Fatal("a plain file accepted as a console")
	}
}

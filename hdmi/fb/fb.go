// Package fb writes pictures to a Linux framebuffer device (/dev/fb0).
//
// Open reads the device's geometry and pixel format with the
// FBIOGET_VSCREENINFO and FBIOGET_FSCREENINFO ioctls; Show converts a
// picture to that format (any packed true-colour format of 16, 24 or 32 bits
// per pixel described by its bitfields: XRGB8888, RGB565, BGR...) and writes
// the visible area in one pwrite. OpenFile treats a plain file as a
// framebuffer of a given geometry, for tests and for the devnet.
package fb

import (
	"errors"
	"fmt"
	"image"
	"image/draw"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The ioctls of <linux/fb.h>.
const (
	ioctlGetVScreenInfo = 0x4600 // FBIOGET_VSCREENINFO
	ioctlGetFScreenInfo = 0x4602 // FBIOGET_FSCREENINFO
	visualTrueColor     = 2      // FB_VISUAL_TRUECOLOR
	visualDirectColor   = 4      // FB_VISUAL_DIRECTCOLOR
	typePackedPixels    = 0      // FB_TYPE_PACKED_PIXELS
)

// bitfield is struct fb_bitfield.
type bitfield struct {
	Offset, Length, MSBRight uint32
}

// varScreenInfo is struct fb_var_screeninfo (160 bytes).
type varScreenInfo struct {
	XRes, YRes, XResVirtual, YResVirtual uint32
	XOffset, YOffset                     uint32
	BitsPerPixel, Grayscale              uint32
	Red, Green, Blue, Transp             bitfield
	NonStd, Activate                     uint32
	Height, Width                        uint32
	AccelFlags                           uint32
	PixClock                             uint32
	LeftMargin, RightMargin              uint32
	UpperMargin, LowerMargin             uint32
	HSyncLen, VSyncLen                   uint32
	Sync, VMode, Rotate, Colorspace      uint32
	Reserved                             [4]uint32
}

// fixScreenInfo is struct fb_fix_screeninfo (80 bytes on 64-bit Linux,
// where unsigned long is 8 bytes; Go's uintptr has the kernel's size and
// alignment there).
type fixScreenInfo struct {
	ID                             [16]byte
	SmemStart                      uintptr
	SmemLen, Type, TypeAux, Visual uint32
	XPanStep, YPanStep, YWrapStep  uint16
	_                              uint16
	LineLength                     uint32
	MMIOStart                      uintptr
	MMIOLen, Accel                 uint32
	Capabilities                   uint16
	Reserved                       [2]uint16
}

// Channel is where one colour channel sits in a pixel.
type Channel struct {
	Offset, Length uint
}

// Info is a framebuffer's geometry and pixel format.
type Info struct {
	ID            string // driver name, e.g. "bochs-drmdrmfb"
	Width, Height int    // visible pixels
	BitsPerPixel  int
	// Stride is the bytes per line (may exceed Width*BitsPerPixel/8).
	Stride int
	// Offset is the byte offset of the visible area (the panning
	// offsets).
	Offset           int64
	Red, Green, Blue Channel
}

// XRGB8888 is the common 32-bit format: blue in the lowest byte.
func XRGB8888(w, h int) Info {
	return Info{ID: "xrgb8888", Width: w, Height: h, BitsPerPixel: 32, Stride: w * 4,
		Red: Channel{16, 8}, Green: Channel{8, 8}, Blue: Channel{0, 8}}
}

// RGB565 is the common 16-bit format.
func RGB565(w, h int) Info {
	return Info{ID: "rgb565", Width: w, Height: h, BitsPerPixel: 16, Stride: w * 2,
		Red: Channel{11, 5}, Green: Channel{5, 6}, Blue: Channel{0, 5}}
}

// String describes the format, e.g. "1920×1080 32 bpp R16:8 G8:8 B0:8".
func (i Info) String() string {
	return fmt.Sprintf("%d×%d %d bpp R%d:%d G%d:%d B%d:%d stride %d", i.Width, i.Height, i.BitsPerPixel,
		i.Red.Offset, i.Red.Length, i.Green.Offset, i.Green.Length, i.Blue.Offset, i.Blue.Length, i.Stride)
}

// Validate reports an error unless the format is one Encode can write.
func (i Info) Validate() error {
	if i.Width <= 0 || i.Height <= 0 || i.Width > 16384 || i.Height > 16384 {
		return fmt.Errorf("fb: unusable size %d×%d", i.Width, i.Height)
	}
	switch i.BitsPerPixel {
	case 16, 24, 32:
	default:
		return fmt.Errorf("fb: %d bits per pixel is not supported (16, 24 or 32 are)", i.BitsPerPixel)
	}
	if i.Stride < i.Width*i.BitsPerPixel/8 {
		return fmt.Errorf("fb: line length %d is shorter than %d pixels of %d bits", i.Stride, i.Width, i.BitsPerPixel)
	}
	for _, c := range []Channel{i.Red, i.Green, i.Blue} {
		if c.Length == 0 || c.Length > 8 || c.Offset+c.Length > uint(i.BitsPerPixel) {
			return fmt.Errorf("fb: colour channel at bit %d, %d bits, does not fit a %d-bit pixel", c.Offset, c.Length, i.BitsPerPixel)
		}
	}
	return nil
}

// Size is the bytes of the visible area.
func (i Info) Size() int { return i.Stride * i.Height }

// Encode converts img to the pixel format of i into dst (i.Size() bytes;
// a new slice when dst is too short) and returns it. img is drawn at the
// framebuffer's top left; parts outside are cut, uncovered parts are black.
func Encode(dst []byte, i Info, img image.Image) ([]byte, error) {
	if err := i.Validate(); err != nil {
		return nil, err
	}
	if len(dst) < i.Size() {
		dst = make([]byte, i.Size())
	}
	dst = dst[:i.Size()]
	clear(dst) // what the picture does not cover is black
	rgba, ok := img.(*image.RGBA)
	if !ok || rgba.Rect.Min != (image.Point{}) {
		rgba = image.NewRGBA(image.Rect(0, 0, img.Bounds().Dx(), img.Bounds().Dy()))
		draw.Draw(rgba, rgba.Rect, img, img.Bounds().Min, draw.Src)
	}
	w, h := min(i.Width, rgba.Rect.Dx()), min(i.Height, rgba.Rect.Dy())
	bpp := i.BitsPerPixel / 8
	xrgb := bpp == 4 && i.Red == (Channel{16, 8}) && i.Green == (Channel{8, 8}) && i.Blue == (Channel{0, 8})
	rgb565 := bpp == 2 && i.Red == (Channel{11, 5}) && i.Green == (Channel{5, 6}) && i.Blue == (Channel{0, 5})
	if w <= 0 {
		return dst, nil
	}
	for y := range h {
		src := rgba.Pix[y*rgba.Stride : y*rgba.Stride+w*4]
		row := dst[y*i.Stride : y*i.Stride+w*bpp]
		switch {
		case xrgb:
			// The common formats get loops the compiler keeps free of
			// bounds checks: B, G, R, X in memory.
			for x := 0; x < w; x++ {
				s := src[x*4 : x*4+4 : x*4+4]
				d := row[x*4 : x*4+4 : x*4+4]
				d[0], d[1], d[2], d[3] = s[2], s[1], s[0], 0
			}
		case rgb565:
			for x := 0; x < w; x++ {
				s := src[x*4 : x*4+3 : x*4+3]
				v := uint16(s[0]>>3)<<11 | uint16(s[1]>>2)<<5 | uint16(s[2]>>3)
				d := row[x*2 : x*2+2 : x*2+2]
				d[0], d[1] = byte(v), byte(v>>8)
			}
		default:
			for x := range w {
				s := src[x*4 : x*4+3]
				v := pack(s[0], i.Red) | pack(s[1], i.Green) | pack(s[2], i.Blue)
				d := row[x*bpp : x*bpp+bpp]
				for b := range bpp { // little-endian, as on amd64 and arm64
					d[b] = byte(v >> (8 * b))
				}
			}
		}
	}
	return dst, nil
}

// pack places the top c.Length bits of v at c.Offset.
func pack(v uint8, c Channel) uint32 {
	return uint32(v>>(8-c.Length)) << c.Offset
}

// FB is an open framebuffer.
type FB struct {
	f    *os.File
	info Info
	buf  []byte
}

// Open opens the framebuffer device at path (e.g. /dev/fb0) and reads its
// geometry and pixel format.
func Open(path string) (*FB, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("fb: %w", err)
	}
	info, err := query(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("fb: %s: %w", path, err)
	}
	if err := info.Validate(); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w (%s, %s)", err, path, info)
	}
	return &FB{f: f, info: info}, nil
}

// ErrNotFramebuffer: the file answers no framebuffer ioctl.
var ErrNotFramebuffer = errors.New("not a framebuffer device")

func query(f *os.File) (Info, error) {
	var v varScreenInfo
	var fx fixScreenInfo
	rc, err := f.SyscallConn()
	if err != nil {
		return Info{}, err
	}
	var ioErr error
	err = rc.Control(func(fd uintptr) {
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, fd, ioctlGetVScreenInfo, uintptr(unsafe.Pointer(&v))); e != 0 {
			ioErr = fmt.Errorf("FBIOGET_VSCREENINFO: %w", e)
			return
		}
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, fd, ioctlGetFScreenInfo, uintptr(unsafe.Pointer(&fx))); e != 0 {
			ioErr = fmt.Errorf("FBIOGET_FSCREENINFO: %w", e)
		}
	})
	if err != nil {
		return Info{}, err
	}
	if ioErr != nil {
		if errors.Is(ioErr, unix.ENOTTY) || errors.Is(ioErr, unix.EINVAL) {
			return Info{}, fmt.Errorf("%w: %v", ErrNotFramebuffer, ioErr)
		}
		return Info{}, ioErr
	}
	return infoFrom(v, fx)
}

// infoFrom checks the kernel's answers and turns them into an Info.
func infoFrom(v varScreenInfo, fx fixScreenInfo) (Info, error) {
	if fx.Type != typePackedPixels {
		return Info{}, fmt.Errorf("framebuffer type %d is not packed pixels", fx.Type)
	}
	if fx.Visual != visualTrueColor && fx.Visual != visualDirectColor {
		return Info{}, fmt.Errorf("framebuffer visual %d is not true colour", fx.Visual)
	}
	if v.Red.MSBRight|v.Green.MSBRight|v.Blue.MSBRight != 0 {
		return Info{}, errors.New("framebuffer colour bitfields are MSB-right; not supported")
	}
	id := string(fx.ID[:])
	for j, c := range fx.ID {
		if c == 0 {
			id = string(fx.ID[:j])
			break
		}
	}
	i := Info{
		ID: id, Width: int(v.XRes), Height: int(v.YRes), BitsPerPixel: int(v.BitsPerPixel),
		Stride: int(fx.LineLength),
		Red:    Channel{uint(v.Red.Offset), uint(v.Red.Length)},
		Green:  Channel{uint(v.Green.Offset), uint(v.Green.Length)},
		Blue:   Channel{uint(v.Blue.Offset), uint(v.Blue.Length)},
	}
	i.Offset = int64(v.YOffset)*int64(i.Stride) + int64(v.XOffset)*int64(i.BitsPerPixel/8)
	if fx.SmemLen != 0 && i.Offset+int64(i.Size()) > int64(fx.SmemLen) {
		return Info{}, fmt.Errorf("visible area (%s at offset %d) is past the framebuffer's %d bytes", i, i.Offset, fx.SmemLen)
	}
	return i, nil
}

// OpenFile opens (creating if needed) a plain file as a framebuffer of
// info's format: what Show writes lands in it as it would in /dev/fb0.
func OpenFile(path string, info Info) (*FB, error) {
	if err := info.Validate(); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("fb: %w", err)
	}
	return &FB{f: f, info: info}, nil
}

// Info is the framebuffer's geometry and format.
func (fb *FB) Info() Info { return fb.info }

// Show writes img to the framebuffer.
func (fb *FB) Show(img image.Image) error {
	b, err := Encode(fb.buf, fb.info, img)
	if err != nil {
		return err
	}
	fb.buf = b
	if _, err := fb.f.WriteAt(b, fb.info.Offset); err != nil {
		return fmt.Errorf("fb: write: %w", err)
	}
	return nil
}

// Close closes the device.
func (fb *FB) Close() error { return fb.f.Close() }

// The console ioctls of <linux/kd.h>.
const (
	ioctlKDSetMode = 0x4B3A // KDSETMODE
	kdText         = 0x00
	kdGraphics     = 0x01
)

// Console is a virtual terminal switched to graphics mode: the kernel's
// framebuffer console stops drawing its text and cursor over the picture.
type Console struct{ f *os.File }

// GraphicsMode switches the console at path (/dev/tty0: the active
// virtual terminal) to graphics mode until Close.
func GraphicsMode(path string) (*Console, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("fb: console: %w", err)
	}
	if err := kdSetMode(f, kdGraphics); err != nil {
		f.Close()
		return nil, fmt.Errorf("fb: console %s: KDSETMODE: %w", path, err)
	}
	return &Console{f: f}, nil
}

// Close gives the console back to text mode.
func (c *Console) Close() error {
	err := kdSetMode(c.f, kdText)
	c.f.Close()
	return err
}

func kdSetMode(f *os.File, mode uintptr) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var e unix.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, e = unix.Syscall(unix.SYS_IOCTL, fd, ioctlKDSetMode, mode)
	}); err != nil {
		return err
	}
	if e != 0 {
		return e
	}
	return nil
}

// Package ota updates a running gokrazy box over the air from an uploaded
// disk image (build/oepc-amd64.img, as make image writes it): it reads the
// image as a stream, once, front to back, and sends its parts to
// gokrazy's update endpoints (/update/root, /update/boot, /update/mbr),
// then switches to the new root (/update/switch) and reboots (/reboot).
//
// The image is never held in memory. Its root file system (squashfs, at
// most 500 MiB) goes to gokrazy while it arrives; its boot file system
// (100 MiB, which comes first in the image) is kept in a file in SpoolDir
// until the root is written, because gokrazy's own order (root, then boot,
// then MBR, as gok update does) is the one a power cut in the middle
// cannot break: until the boot partition changes, the box boots the old
// kernel and root. The rest of the image (root B and /perm) is read and
// dropped: the box keeps its own /perm.
//
// Before anything is written the image is checked: an MBR signature, a FAT
// boot file system holding a Linux kernel for this box's architecture, and
// a squashfs root. A wrong file gets an *ImageError saying what to do.
package ota

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/gokrazy/updater"
)

// Layout is where gokrazy's partitions are in a disk image.
type Layout struct {
	BootOffset, BootSize int64
	RootOffset, RootSize int64
}

// GokrazyLayout is gokrazy's: the boot file system (100 MiB) at sector
// 8192, then root A and root B (500 MiB each), then /perm.
var GokrazyLayout = Layout{
	BootOffset: 8192 * 512, BootSize: 100 << 20,
	RootOffset: 8192*512 + 100<<20, RootSize: 500 << 20,
}

// Needed is how many bytes of an image an update reads: up to the end of
// root A. An uploader may send just this prefix of the image file.
func (l Layout) Needed() int64 { return l.RootOffset + l.RootSize }

// Progress is what an update has done so far.
type Progress struct {
	// State is "idle", "receiving", "writing", "switching", "rebooting",
	// "done" (no reboot asked for) or "failed".
	State string `json:"state"`
	// Received counts the image's bytes read so far.
	Received int64 `json:"received"`
	// Parts are the partitions being written, in order (root, boot, mbr).
	Parts []PartProgress `json:"parts"`
	// Error says what went wrong (State "failed").
	Error   string    `json:"error,omitempty"`
	Started time.Time `json:"started,omitzero"`
	Arch    string    `json:"arch,omitempty"`
}

// PartProgress is one partition's write.
type PartProgress struct {
	Name    string `json:"name"` // "root", "boot", "mbr"
	Written int64  `json:"written"`
	Total   int64  `json:"total"`
	Done    bool   `json:"done"`
}

// ImageError is an uploaded file that is not an image this box can take.
type ImageError struct{ Msg string }

func (e *ImageError) Error() string { return e.Msg }

const spoolPattern = "ota-boot-*.tmp"

// ErrBusy is an update asked for while another one runs.
var ErrBusy = errors.New("an update is already running: wait for it to finish")

// Config is one box's updater.
type Config struct {
	// Target connects to gokrazy's update endpoints (see Socket).
	Target func(ctx context.Context) (*updater.Target, error)
	// SpoolDir holds the boot file system while the root is written
	// (100 MiB; on the box a directory on /perm).
	SpoolDir string
	// Layout is the image's partition layout; default GokrazyLayout.
	Layout Layout
	// Arch is the box's GOARCH (default runtime.GOARCH): an image whose
	// kernel is for another one is refused.
	Arch string
	// NoReboot leaves the box running after the switch (tests).
	NoReboot bool
	// Timeout bounds one whole update (default 30 minutes).
	Timeout time.Duration
	Logger  *slog.Logger
	Now     func() time.Time
}

// Updater runs one update at a time and reports its progress.
type Updater struct {
	cfg Config
	log *slog.Logger

	mu   sync.Mutex
	busy bool
	prog Progress
}

// New returns an updater.
func New(cfg Config) (*Updater, error) {
	if cfg.Target == nil || cfg.SpoolDir == "" {
		return nil, errors.New("ota: Target and SpoolDir are required")
	}
	if cfg.Layout == (Layout{}) {
		cfg.Layout = GokrazyLayout
	}
	if cfg.Arch == "" {
		cfg.Arch = runtime.GOARCH
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	u := &Updater{cfg: cfg, log: cfg.Logger, prog: Progress{State: "idle"}}
	if u.log == nil {
		u.log = slog.New(slog.DiscardHandler)
	}
	// A boot file system kept by an update that a crash or power cut
	// ended (it never switched): 100 MiB of /perm to give back.
	left, _ := filepath.Glob(filepath.Join(cfg.SpoolDir, spoolPattern))
	for _, f := range left {
		if err := os.Remove(f); err == nil {
			u.log.Info("ota: removed the spool file of an update that did not finish", "file", f)
		}
	}
	return u, nil
}

// Arch is the box's GOARCH, which an image's kernel must match.
func (u *Updater) Arch() string { return u.cfg.Arch }

// Layout is the layout the updater expects.
func (u *Updater) Layout() Layout { return u.cfg.Layout }

// Status is the current (or last) update's progress.
func (u *Updater) Status() Progress {
	u.mu.Lock()
	defer u.mu.Unlock()
	p := u.prog
	p.Parts = append([]PartProgress(nil), p.Parts...)
	return p
}

func (u *Updater) set(f func(p *Progress)) {
	u.mu.Lock()
	f(&u.prog)
	u.mu.Unlock()
}

// Apply reads a disk image from r (size bytes if known, else -1), writes
// it to the box through gokrazy, switches to its root and (unless
// NoReboot) asks gokrazy to reboot, asynchronously. An *ImageError is a
// wrong file; nothing was written then.
func (u *Updater) Apply(ctx context.Context, r io.Reader, size int64) (err error) {
	u.mu.Lock()
	if u.busy {
		u.mu.Unlock()
		return ErrBusy
	}
	u.busy = true
	u.prog = Progress{State: "receiving", Started: u.cfg.Now(), Arch: u.cfg.Arch}
	u.mu.Unlock()
	defer func() {
		u.mu.Lock()
		u.busy = false
		if err != nil {
			u.prog.State, u.prog.Error = "failed", err.Error()
		}
		u.mu.Unlock()
		if err != nil {
			u.log.Warn("ota: update failed", "err", err)
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, u.cfg.Timeout)
	defer cancel()
	l := u.cfg.Layout
	if size >= 0 && size < l.RootOffset+96 {
		return &ImageError{Msg: fmt.Sprintf("this file (%s) is too small to be a disk image of OEPC OS (at least %s): upload build/oepc-%s.img as make image wrote it", human(size), human(l.RootOffset+4096), u.cfg.Arch)}
	}
	in := &countReader{r: r, u: u}

	mbr := make([]byte, 512)
	if _, err := io.ReadFull(in, mbr); err != nil {
		return tooShort(err, u.cfg.Arch)
	}
	if mbr[510] != 0x55 || mbr[511] != 0xAA {
		return &ImageError{Msg: fmt.Sprintf("this file is not a disk image (no boot record in its first sector): upload build/oepc-%s.img as make image wrote it, not a compressed or other file", u.cfg.Arch)}
	}
	if err := skip(in, l.BootOffset-512); err != nil {
		return tooShort(err, u.cfg.Arch)
	}
	boot, err := os.CreateTemp(u.cfg.SpoolDir, spoolPattern)
	if err != nil {
		return fmt.Errorf("ota: keeping the boot file system: %w", err)
	}
	defer func() { boot.Close(); os.Remove(boot.Name()) }()
	if _, err := io.CopyN(boot, in, l.BootSize); err != nil {
		if errors.Is(err, io.EOF) {
			return tooShort(io.ErrUnexpectedEOF, u.cfg.Arch)
		}
		return fmt.Errorf("ota: keeping the boot file system in %s: %w (is the disk full?)", u.cfg.SpoolDir, err)
	}
	arch, err := bootArch(boot, l.BootSize)
	if err != nil {
		return err
	}
	if arch != u.cfg.Arch {
		return &ImageError{Msg: fmt.Sprintf("this image is for %s (%s), but this box is %s: upload build/oepc-%s.img", arch, archHint(arch), u.cfg.Arch, u.cfg.Arch)}
	}
	if err := skip(in, l.RootOffset-l.BootOffset-l.BootSize); err != nil {
		return tooShort(err, u.cfg.Arch)
	}
	sb := make([]byte, 96)
	if _, err := io.ReadFull(in, sb); err != nil {
		return tooShort(err, u.cfg.Arch)
	}
	if string(sb[:4]) != "hsqs" {
		return &ImageError{Msg: "this disk image has no root file system (squashfs) where gokrazy puts it: it is not an image of OEPC OS; upload build/oepc-" + u.cfg.Arch + ".img"}
	}
	rootSize := (int64(binary.LittleEndian.Uint64(sb[40:48])) + 4095) &^ 4095
	if rootSize < 96 || rootSize > l.RootSize {
		return &ImageError{Msg: fmt.Sprintf("this image's root file system says it is %s, which does not fit gokrazy's %s partition: the image is damaged; build it again with make image", human(rootSize), human(l.RootSize))}
	}

	t, err := u.cfg.Target(ctx)
	if err != nil {
		return fmt.Errorf("ota: reaching gokrazy's update service: %w", err)
	}
	u.set(func(p *Progress) {
		p.State = "writing"
		p.Parts = []PartProgress{{Name: partNames[0], Total: rootSize}, {Name: partNames[1], Total: l.BootSize}, {Name: partNames[2], Total: 446}}
	})
	u.log.Info("ota: writing the new root file system", "bytes", rootSize, "arch", arch)
	root := io.MultiReader(bytes.NewReader(sb), io.LimitReader(in, rootSize-int64(len(sb))))
	if err := u.stream(ctx, t, 0, root, rootSize); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return tooShort(err, u.cfg.Arch)
		}
		return fmt.Errorf("writing the root file system: %w", err)
	}
	// The rest (root B, /perm) is not needed: read and drop it, so the
	// upload completes.
	if _, err := io.Copy(io.Discard, in); err != nil {
		return fmt.Errorf("ota: reading the rest of the upload: %w", err)
	}
	if _, err := boot.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if err := u.stream(ctx, t, 1, io.LimitReader(boot, l.BootSize), l.BootSize); err != nil {
		return fmt.Errorf("writing the boot file system: %w", err)
	}
	if err := u.stream(ctx, t, 2, bytes.NewReader(mbr[:446]), 446); err != nil {
		if !errors.Is(err, updater.ErrUpdateHandlerNotImplemented) {
			return fmt.Errorf("writing the boot record: %w", err)
		}
		u.log.Info("ota: this gokrazy does not update the MBR; left as it is")
	}
	u.set(func(p *Progress) { p.State = "switching" })
	if err := t.Switch(ctx); err != nil {
		return fmt.Errorf("ota: switching to the new root partition: %w", err)
	}
	if u.cfg.NoReboot {
		u.set(func(p *Progress) { p.State = "done" })
		u.log.Info("ota: update written; the box runs the new version after its next reboot")
		return nil
	}
	u.set(func(p *Progress) { p.State = "rebooting" })
	u.log.Warn("ota: update written; rebooting into the new version")
	if err := t.Reboot(ctx, updater.WithAsync(true)); err != nil {
		var ne net.Error
		if errors.As(err, &ne) || errors.Is(err, io.EOF) {
			return nil // gokrazy went down under the request: that is the reboot
		}
		return fmt.Errorf("ota: the update is written, but the reboot failed (reboot from the System page): %w", err)
	}
	return nil
}

var partNames = [...]string{"root", "boot", "mbr"}

func (u *Updater) stream(ctx context.Context, t *updater.Target, part int, r io.Reader, n int64) error {
	pr := &partReader{r: r, u: u, part: part}
	err := t.StreamTo(ctx, partNames[part], pr)
	if err == nil && pr.n != n {
		err = io.ErrUnexpectedEOF
	}
	if err == nil {
		u.set(func(p *Progress) { p.Parts[part].Done = true })
	}
	return err
}

type countReader struct {
	r io.Reader
	u *Updater
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.u.set(func(pr *Progress) { pr.Received += int64(n) })
	}
	return n, err
}

type partReader struct {
	r    io.Reader
	u    *Updater
	part int
	n    int64
}

func (c *partReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.n += int64(n)
		c.u.set(func(pr *Progress) { pr.Parts[c.part].Written += int64(n) })
	}
	return n, err
}

func skip(r io.Reader, n int64) error {
	if n < 0 {
		return errors.New("ota: bad layout")
	}
	m, err := io.CopyN(io.Discard, r, n)
	if m < n && err == nil {
		err = io.ErrUnexpectedEOF
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return err
}

func tooShort(err error, arch string) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return &ImageError{Msg: "the file ended before the end of the image's root file system: it is not a whole disk image (or the upload was cut off); upload build/oepc-" + arch + ".img again"}
	}
	return fmt.Errorf("ota: reading the upload: %w", err)
}

// bootArch finds the Linux kernel in a FAT boot file system (gokrazy
// writes each file contiguously, starting on a sector) and returns its
// GOARCH, as gok does (the file(1) magic numbers).
func bootArch(f io.ReaderAt, size int64) (string, error) {
	hdr := make([]byte, 512)
	if _, err := f.ReadAt(hdr, 0); err != nil {
		return "", err
	}
	if hdr[510] != 0x55 || hdr[511] != 0xAA || (!bytes.HasPrefix(hdr[0x52:], []byte("FAT")) && !bytes.HasPrefix(hdr[0x36:], []byte("FAT"))) {
		return "", &ImageError{Msg: "this disk image has no FAT boot file system where gokrazy puts it: it is not an image of OEPC OS; build one with make image"}
	}
	const chunk = 1 << 20
	buf := make([]byte, chunk+1024)
	for off := int64(0); off < size; off += chunk {
		n, err := f.ReadAt(buf, off)
		if err != nil && !errors.Is(err, io.EOF) {
			return "", err
		}
		for s := 512; s < n && s < chunk; s += 512 {
			if a := kernelArch(buf[s:n]); a != "" {
				return a, nil
			}
		}
	}
	return "", &ImageError{Msg: "no Linux kernel found in this image's boot file system: it is not an image of OEPC OS; build one with make image"}
}

// kernelArch is gok's kernelGoarch: "arm64", "arm", "amd64", "386" or "".
func kernelArch(h []byte) string {
	if len(h) >= 0x3c && binary.LittleEndian.Uint32(h[0x38:]) == 0x644d5241 {
		return "arm64"
	}
	if len(h) >= 0x28 && binary.LittleEndian.Uint32(h[0x24:]) == 0x016f2818 {
		return "arm"
	}
	// x86: the boot sector signature and the "HdrS" setup header.
	if len(h) >= 0x237 && binary.LittleEndian.Uint16(h[0x1fe:]) == 0xaa55 && string(h[0x202:0x206]) == "HdrS" {
		if h[0x236]&1 != 0 {
			return "amd64"
		}
		return "386"
	}
	return ""
}

func archHint(arch string) string {
	switch arch {
	case "arm64":
		return "a Raspberry Pi"
	case "amd64":
		return "a PC"
	}
	return "another machine"
}

func human(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d bytes", n)
}

// Socket connects to gokrazy's update endpoints over its local web
// interface socket (/run/gokrazy-http.sock), with the user "gokrazy" and
// the password password returns.
func Socket(socket string, password func(context.Context) (string, error)) func(context.Context) (*updater.Target, error) {
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		ResponseHeaderTimeout: 10 * time.Minute, // gokrazy answers a part once it is written and synced
	}}
	return URL("http://gokrazy/", hc, password)
}

// URL connects to gokrazy's update endpoints at base (ending in "/").
func URL(base string, hc *http.Client, password func(context.Context) (string, error)) func(context.Context) (*updater.Target, error) {
	return func(ctx context.Context) (*updater.Target, error) {
		pw, err := password(ctx)
		if err != nil {
			return nil, err
		}
		fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return updater.NewTarget(fctx, base, &authDoer{c: hc, pw: pw})
	}
}

type authDoer struct {
	c  *http.Client
	pw string
}

func (a *authDoer) Do(r *http.Request) (*http.Response, error) {
	r.SetBasicAuth("gokrazy", a.pw)
	resp, err := a.c.Do(r)
	if err == nil && resp.StatusCode == http.StatusUnauthorized {
		resp.Body.Close()
		return nil, errors.New("gokrazy refused its password (HTTP 401): /perm/gokr-pw.txt does not hold the password gokrazy runs with")
	}
	return resp, err
}

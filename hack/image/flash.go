package image

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// FlashTarget is a block device that passed the safety checks.
type FlashTarget struct {
	Dev       string // as given, e.g. /dev/sdb
	Name      string // kernel name, e.g. sdb
	SizeBytes int64
	Model     string
}

// CheckFlashTarget refuses anything but a whole, unmounted, non-system
// block device that is large enough for imageBytes. It reads /proc and
// /sys, so it works only on Linux.
func CheckFlashTarget(dev string, imageBytes int64) (*FlashTarget, error) {
	fi, err := os.Stat(dev)
	if err != nil {
		return nil, fmt.Errorf("flash: %w", err)
	}
	if fi.Mode()&os.ModeDevice == 0 || fi.Mode()&os.ModeCharDevice != 0 {
		return nil, fmt.Errorf("flash: %s is not a block device", dev)
	}
	real, err := filepath.EvalSymlinks(dev)
	if err != nil {
		return nil, fmt.Errorf("flash: %w", err)
	}
	name := filepath.Base(real)
	sys := filepath.Join("/sys/class/block", name)
	if _, err := os.Stat(filepath.Join(sys, "partition")); err == nil {
		return nil, fmt.Errorf("flash: %s is a partition; give the whole disk", dev)
	}
	if _, err := os.Stat(sys); err != nil {
		return nil, fmt.Errorf("flash: %s has no entry in /sys/class/block: %w", dev, err)
	}
	// The disk and every partition of it.
	members := map[string]bool{name: true}
	ents, _ := os.ReadDir(sys)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), name) {
			members[e.Name()] = true
		}
	}
	// Holders (device mapper, md, LVM) count as in use.
	for m := range members {
		h, _ := os.ReadDir(filepath.Join("/sys/class/block", m, "holders"))
		if len(h) > 0 {
			return nil, fmt.Errorf("flash: %s is in use by %s (device mapper, RAID or LVM)", m, h[0].Name())
		}
	}
	mounts, err := mountedDevices()
	if err != nil {
		return nil, err
	}
	var mounted []string
	for src, targets := range mounts {
		if !members[src] {
			continue
		}
		for _, target := range targets {
			switch target {
			case "/", "/boot", "/boot/efi", "/usr", "/var", "swap":
				return nil, fmt.Errorf("flash: %s holds the running system (%s on %s); refusing", dev, src, target)
			}
			mounted = append(mounted, src+" on "+target)
		}
	}
	if len(mounted) > 0 {
		return nil, fmt.Errorf("flash: %s is mounted (%s); unmount it first", dev, strings.Join(mounted, ", "))
	}
	sectors, err := readInt(filepath.Join(sys, "size"))
	if err != nil {
		return nil, fmt.Errorf("flash: size of %s: %w", dev, err)
	}
	t := &FlashTarget{Dev: dev, Name: name, SizeBytes: sectors * 512}
	if b, err := os.ReadFile(filepath.Join(sys, "device", "model")); err == nil {
		t.Model = strings.TrimSpace(string(b))
	}
	if t.SizeBytes < imageBytes {
		return nil, fmt.Errorf("flash: %s holds %d bytes, the image needs %d", dev, t.SizeBytes, imageBytes)
	}
	return t, nil
}

// mountedDevices maps kernel block device names (sda1, dm-0, ...) that are
// mounted or used as swap to where ("swap" for swap).
func mountedDevices() (map[string][]string, error) {
	out := map[string][]string{}
	for _, p := range []string{"/proc/self/mounts", "/proc/swaps"} {
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("flash: %w", err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 2 || !strings.HasPrefix(fields[0], "/dev/") {
				continue
			}
			src := fields[0]
			if r, err := filepath.EvalSymlinks(src); err == nil {
				src = r
			}
			target := fields[1]
			if p == "/proc/swaps" {
				target = "swap"
			}
			out[filepath.Base(src)] = append(out[filepath.Base(src)], target)
		}
		f.Close()
	}
	return out, nil
}

func readInt(p string) (int64, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// Flash writes the image file to the checked target, opening the device
// exclusively (the kernel refuses while anything mounts it) and syncing at
// the end. progress, if not nil, is called after every chunk.
func Flash(ctx context.Context, img string, t *FlashTarget, progress func(done, total int64)) error {
	src, err := os.Open(img)
	if err != nil {
		return err
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return err
	}
	dst, err := os.OpenFile(t.Dev, os.O_WRONLY|syscall.O_EXCL, 0)
	if err != nil {
		return fmt.Errorf("flash: opening %s exclusively: %w", t.Dev, err)
	}
	buf := make([]byte, 4<<20)
	var done int64
	for {
		if err := ctx.Err(); err != nil {
			dst.Close()
			return err
		}
		n, rerr := io.ReadFull(src, buf)
		if n > 0 {
			if _, err := dst.Write(buf[:n]); err != nil {
				dst.Close()
				return fmt.Errorf("flash: writing %s: %w", t.Dev, err)
			}
			done += int64(n)
			if progress != nil {
				progress(done, fi.Size())
			}
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			dst.Close()
			return rerr
		}
	}
	if err := dst.Sync(); err != nil {
		dst.Close()
		return fmt.Errorf("flash: sync %s: %w", t.Dev, err)
	}
	return dst.Close()
}

// gokrazy's partition layout (github.com/gokrazy/tools/packer): the first
// partition starts at sector 8192; /perm starts 1100 MiB later and ends 33
// sectors before the end of the disk (the secondary GPT).
const (
	firstPartitionOffsetSectors = 8192
	permStartBytes              = firstPartitionOffsetSectors*512 + 1100<<20
)

// PermSizeKB is the size gokrazy gives /perm on a disk of devBytes bytes,
// in KiB (the same computation as packer.PermSizeInKB).
func PermSizeKB(devBytes int64) int64 {
	sectors := devBytes / 512
	permStart := int64(permStartBytes / 512)
	permSize := sectors - permStart
	if lastLBA := sectors - 1 - 33; permStart+permSize >= lastLBA {
		permSize -= permStart + permSize - lastLBA
	}
	return permSize * 512 / 1024
}

// FlashFit writes the instance straight to the checked device with gok, so
// that the partition table is made for the device and /perm spans the rest
// of the disk, then creates the ext4 /perm file system (empty, like Build).
// Unlike Flash it builds the image anew (same version).
func (in *Instance) FlashFit(ctx context.Context, t *FlashTarget) error {
	if _, err := in.gok(ctx, "overwrite", "--full", t.Dev); err != nil {
		return err
	}
	return in.mkfsPerm(ctx, t.Dev, permStartBytes, PermSizeKB(t.SizeBytes))
}

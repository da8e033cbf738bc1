package image

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// loopDevice attaches a sparse file of size bytes to a loop device (root
// and losetup needed, else the test is skipped) and detaches it at the end.
func loopDevice(t *testing.T, size int64) string {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root for a loop device")
	}
	if _, err := exec.LookPath("losetup"); err != nil {
		t.Skip("no losetup")
	}
	backing := filepath.Join(t.TempDir(), "disk")
	if err := os.WriteFile(backing, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(backing, size); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "-f", "--show", backing).CombinedOutput()
	if err != nil {
		t.Skipf("losetup cannot attach here: %v: %s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })
	return dev
}

// TestFlashLoopDevice writes an image to a real block device (a loop
// device) and reads it back.
func TestFlashLoopDevice(t *testing.T) {
	dev := loopDevice(t, 16<<20)
	img := filepath.Join(t.TempDir(), "x.img")
	data := make([]byte, 9<<20+123) // not a multiple of the chunk size
	rand.Read(data)
	if err := os.WriteFile(img, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := CheckFlashTarget(dev, 32<<20); err == nil || !strings.Contains(err.Error(), "holds") {
		t.Errorf("too small a device accepted: %v", err)
	}
	tgt, err := CheckFlashTarget(dev, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if tgt.SizeBytes != 16<<20 {
		t.Errorf("size %d", tgt.SizeBytes)
	}
	var last int64
	if err := Flash(context.Background(), img, tgt, func(done, total int64) { last = done }); err != nil {
		t.Fatal(err)
	}
	if last != int64(len(data)) {
		t.Errorf("progress ended at %d of %d", last, len(data))
	}
	got := make([]byte, len(data))
	f, err := os.Open(dev)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Error("device content differs from the image")
	}
}

// TestFlashRefusesMountedDevice mounts a file system on a loop device and
// checks that flashing it is refused.
func TestFlashRefusesMountedDevice(t *testing.T) {
	dev := loopDevice(t, 16<<20)
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", dev).CombinedOutput(); err != nil {
		t.Skipf("mkfs.ext4: %v: %s", err, out)
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", dev, mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount here: %v: %s", err, out)
	}
	defer exec.Command("umount", mnt).Run()
	_, err := CheckFlashTarget(dev, 1)
	if err == nil || !strings.Contains(err.Error(), "is mounted") {
		t.Errorf("mounted device: %v", err)
	}
}

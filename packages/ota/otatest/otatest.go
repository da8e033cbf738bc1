// Package otatest is a stand-in for gokrazy's update endpoints (its web
// interface's /update/features, /update/root, /update/boot, /update/mbr,
// /update/switch and /reboot, behind basic auth), writing what it is sent
// to files so a test can compare them with the image's partitions, and
// helpers that craft small disk images in gokrazy's layout.
package otatest

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"

	"oepc.dev/oepcos/packages/ota"
)

// Gokrazy serves gokrazy's update protocol as gokrazy does: a part's
// answer is the hex hash of what arrived (crc32 when the client asks for
// it with X-Gokrazy-Update-Hash, else SHA-256).
type Gokrazy struct {
	// Dir gets one file per part written: root, boot, mbr.
	Dir      string
	Password string

	mu       sync.Mutex
	order    []string
	switched bool
	reboots  int
}

// Calls lists the endpoints called, in order ("root", "boot", "mbr",
// "switch", "reboot").
func (g *Gokrazy) Calls() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.order...)
}

// Switched and Reboots say whether /update/switch and /reboot were called.
func (g *Gokrazy) Switched() bool { g.mu.Lock(); defer g.mu.Unlock(); return g.switched }
func (g *Gokrazy) Reboots() int   { g.mu.Lock(); defer g.mu.Unlock(); return g.reboots }

func (g *Gokrazy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if u, p, ok := r.BasicAuth(); !ok || u != "gokrazy" || p != g.Password {
		w.Header().Set("WWW-Authenticate", `Basic realm="gokrazy"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/update/features":
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintln(w, `{"features":"partuuid,updatehash"}`)
	case r.Method == http.MethodPut && (r.URL.Path == "/update/root" || r.URL.Path == "/update/boot" || r.URL.Path == "/update/mbr"):
		part := filepath.Base(r.URL.Path)
		var h hash.Hash = sha256.New()
		if r.Header.Get("X-Gokrazy-Update-Hash") == "crc32" {
			h = crc32.NewIEEE()
		}
		f, err := os.Create(filepath.Join(g.Dir, part))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, err = io.Copy(io.MultiWriter(f, h), r.Body)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		g.mu.Lock()
		g.order = append(g.order, part)
		g.mu.Unlock()
		fmt.Fprint(w, hex.EncodeToString(h.Sum(nil)))
	case r.Method == http.MethodPost && r.URL.Path == "/update/switch":
		g.mu.Lock()
		g.order = append(g.order, "switch")
		g.switched = true
		g.mu.Unlock()
	case r.Method == http.MethodPost && r.URL.Path == "/reboot":
		g.mu.Lock()
		g.order = append(g.order, "reboot")
		g.reboots++
		g.mu.Unlock()
	default:
		http.NotFound(w, r)
	}
}

// Image describes a crafted disk image.
type Image struct {
	Path string
	// Boot and Root are the partitions' contents an update must send:
	// the whole boot file system, and the root's squashfs bytes (rounded
	// up to 4 KiB). MBR is the boot code (the first 446 bytes).
	Boot, Root, MBR []byte
}

// WriteImage writes a disk image in layout l to path: an MBR, a FAT boot
// file system holding a fake Linux kernel header for arch, a squashfs
// superblock claiming rootBytes, patterned data, and a few bytes past the
// root file system's end (which an update drops). The file ends there (an
// image of make image goes on to root B and /perm); it is sparse where it
// is zero.
func WriteImage(path string, l ota.Layout, arch string, rootBytes int64) (*Image, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	im := &Image{Path: path}
	mbr := make([]byte, 512)
	for i := range 446 {
		mbr[i] = byte(i*7 + 1)
	}
	mbr[510], mbr[511] = 0x55, 0xAA
	im.MBR = mbr[:446]
	boot := make([]byte, l.BootSize)
	boot[0], boot[1], boot[2] = 0xEB, 0x58, 0x90
	copy(boot[0x52:], "FAT32   ")
	boot[510], boot[511] = 0x55, 0xAA
	copy(boot[4096:], "a file before the kernel")
	k := boot[8192:]
	switch arch {
	case "arm64":
		binary.LittleEndian.PutUint32(k[0x38:], 0x644d5241)
	case "amd64":
		binary.LittleEndian.PutUint16(k[0x1fe:], 0xaa55)
		copy(k[0x202:], "HdrS")
		k[0x236] = 1
	default:
		return nil, fmt.Errorf("otatest: no kernel header for %s", arch)
	}
	for i := 0x300; i < 64<<10 && 8192+i < len(boot); i++ {
		k[i] = byte(i * 13)
	}
	im.Boot = boot
	rootLen := (rootBytes + 4095) &^ 4095
	root := make([]byte, rootLen)
	copy(root, "hsqs")
	binary.LittleEndian.PutUint64(root[40:], uint64(rootBytes))
	for i := 96; i < len(root); i++ {
		root[i] = byte(i*31 + i>>9)
	}
	im.Root = root
	for _, w := range []struct {
		off int64
		b   []byte
	}{{0, mbr}, {l.BootOffset, boot}, {l.RootOffset, root}, {l.RootOffset + rootLen + 4096, []byte("past the root file system: never sent")}} {
		if _, err := f.WriteAt(w.b, w.off); err != nil {
			return nil, err
		}
	}
	return im, f.Close()
}

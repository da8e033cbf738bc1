package directio

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

func addr(p []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(p))) }

// SetDirect turns O_DIRECT on or off for f.
func SetDirect(f *os.File, on bool) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	err = rc.Control(func(fd uintptr) {
		var fl int
		fl, ferr = unix.FcntlInt(fd, unix.F_GETFL, 0)
		if ferr != nil {
			return
		}
		if on {
			fl |= unix.O_DIRECT
		} else {
			fl &^= unix.O_DIRECT
		}
		_, ferr = unix.FcntlInt(fd, unix.F_SETFL, fl)
	})
	if err != nil {
		return err
	}
	return ferr
}

// Prefetch asks the kernel to read all of f ahead, so the disk keeps busy
// while what was read goes out in pieces.
func Prefetch(f *os.File) { advise(f, unix.FADV_WILLNEED) }

// Evict drops f's pages from the page cache. They must be on disk (after
// an fsync), so the next reader meets the file cold; it needs no root,
// unlike drop_caches.
func Evict(f *os.File) error { return advise(f, unix.FADV_DONTNEED) }

func advise(f *os.File, advice int) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var aerr error
	if err := rc.Control(func(fd uintptr) { aerr = unix.Fadvise(int(fd), 0, 0, advice) }); err != nil {
		return err
	}
	return aerr
}

// StartWriteback asks the kernel to start writing f's bytes [off, off+n)
// to disk without waiting, so a closing fsync finds little left to write.
func StartWriteback(f *os.File, off, n int64) {
	if rc, err := f.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) { unix.SyncFileRange(int(fd), off, n, unix.SYNC_FILE_RANGE_WRITE) })
	}
}

package shard

import (
	"os"

	"golang.org/x/sys/unix"
)

// setDirect turns O_DIRECT on or off for f. Shards are written once and
// fsynced before they are acknowledged, so the page cache buys a holder
// nothing: writing past it saves a copy of every byte (a large share of a
// holder's CPU) and leaves the household's own files in the cache.
func setDirect(f *os.File, on bool) error {
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

// prefetch asks the kernel to read all of f ahead: a shard is sent in
// chunks, and the disk would otherwise sit idle while each one goes out.
func prefetch(f *os.File) {
	if rc, err := f.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) { unix.Fadvise(int(fd), 0, 0, unix.FADV_WILLNEED) })
	}
}

package syncthingbench

import (
	"os"

	"golang.org/x/sys/unix"
)

// Evict drops f's pages from the page cache (they must be on disk: after
// an fsync), so the next reader meets the file cold, as a file that has
// sat on disk a while; without root, unlike drop_caches.
func Evict(f *os.File) error {
	return unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
}

package image

import (
	"os"
	"syscall"
)

// fileSizes returns the apparent and the allocated size of path.
func fileSizes(path string) (apparent, allocated int64) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, 0
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fi.Size(), st.Blocks * 512
	}
	return fi.Size(), fi.Size()
}

// Package atomicfile writes small files of state (keys, tokens, records)
// so that a power cut leaves the old file or the new one, never a torn or
// empty one. It depends on nothing but the standard library, so the
// smallest programs on the box (bootguard) use it too.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write writes data to path so that a crash leaves either the old
// file or the new one, never a torn write: temp file, fsync, rename, fsync
// of the directory.
func Write(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // a no-op once renamed
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

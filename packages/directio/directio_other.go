//go:build !linux

package directio

import (
	"errors"
	"os"
	"unsafe"
)

func addr(p []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(p))) }

// SetDirect: direct I/O is only used on Linux, the box's OS.
func SetDirect(*os.File, bool) error { return errors.ErrUnsupported }

// Prefetch: read-ahead advice is only given on Linux.
func Prefetch(*os.File) {}

// Evict: only Linux is told to drop a file's pages.
func Evict(*os.File) error { return errors.ErrUnsupported }

// StartWriteback: only Linux is told to write a file out early.
func StartWriteback(*os.File, int64, int64) {}

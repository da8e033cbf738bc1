//go:build !linux

package shard

import (
	"errors"
	"os"
)

// setDirect: direct I/O is only used on Linux, the box's OS.
func setDirect(*os.File, bool) error { return errors.ErrUnsupported }

// prefetch: read-ahead advice is only given on Linux.
func prefetch(*os.File) {}

//go:build !linux

package cli

import (
	"errors"
	"os"
)

// startWriteback: only Linux is told to write a download out early.
func startWriteback(*os.File, int64, int64) {}

// setDirect: downloads bypass the page cache only on Linux.
func setDirect(*os.File, bool) error { return errors.ErrUnsupported }

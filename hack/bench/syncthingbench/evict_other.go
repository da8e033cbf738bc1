//go:build !linux

package syncthingbench

import "os"

// Evict: only Linux is told to drop a file from its cache.
func Evict(*os.File) error { return nil }

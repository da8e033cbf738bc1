package storetest

import (
	"errors"

	"oepc.dev/oepcos/packages/store"
)

// ErrCrash is what a CrashKV's batches fail with once it has "died".
var ErrCrash = errors.New("storetest: crashed")

// CrashKV fails every Batch after the first Left ones (Left < 0: never),
// as if the box died there; reads and single writes go through. Tests of
// multi-transaction operations use it to stop one part-way and check what
// a restart finds.
type CrashKV struct {
	store.KV
	Left int
}

// Batch applies fn while batches are left, and fails with ErrCrash after.
func (c *CrashKV) Batch(fn func(*store.Batch) error) error {
	if c.Left == 0 {
		return ErrCrash
	}
	c.Left--
	return c.KV.Batch(fn)
}

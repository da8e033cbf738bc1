package index

import (
	"errors"
	"testing"

	"oepc.dev/oepcos/packages/store"
	"oepc.dev/oepcos/packages/store/storetest"
)

// Tests of index operations on more entries than one badger transaction
// holds (about 6,500 writes), and of their order across a crash.

// A folder move cut off between transactions leaves every file at
// exactly one of its two paths, and the next start finishes it.
func TestMoveFinishedAfterCrash(t *testing.T) {
	crash := &storetest.CrashKV{Left: -1}
	kv := openKV(t)
	crash.KV = kv
	ix := New(Config{KV: crash})
	const n = 5000
	addFiles(t, kv, "/src", n)
	ix.Mkdir("/src/empty")
	crash.Left = 2
	if _, err := ix.Move("/src", "/dst"); !errors.Is(err, storetest.ErrCrash) {
		t.Fatalf("mv through a crashing KV: %v", err)
	}
	src, _ := checkIndex(t, kv, "/src")
	dst, _ := checkIndex(t, kv, "/dst")
	if src == 0 || dst == 0 || src+dst != n {
		t.Fatalf("after the crash: %d files at /src, %d at /dst; want some at each, %d in all", src, dst, n)
	}
	// The restart.
	s := New(Config{KV: kv})
	if err := s.FinishMove(); err != nil {
		t.Fatal(err)
	}
	src, _ = checkIndex(t, kv, "/src")
	dst, _ = checkIndex(t, kv, "/dst")
	if src != 0 || dst != n || s.IsDir("/src") || !s.IsDir("/dst/empty") {
		t.Fatalf("after the restart: %d files at /src, %d at /dst", src, dst)
	}
	if _, err := kv.Get(keyMoving); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("move record left: %v", err)
	}
}

// An rm -r cut off between transactions leaves whole entries (each with
// its manifest), and running it again removes the rest.
func TestRemoveAfterCrash(t *testing.T) {
	crash := &storetest.CrashKV{Left: -1}
	kv := openKV(t)
	crash.KV = kv
	ix := New(Config{KV: crash})
	const n = 5000
	addFiles(t, kv, "/src", n)
	crash.Left = 2
	if _, err := ix.Remove("/src", true); !errors.Is(err, storetest.ErrCrash) {
		t.Fatalf("rm -r through a crashing KV: %v", err)
	}
	left, mans := checkIndex(t, kv, "/src")
	if left == 0 || left == n || mans != left {
		t.Fatalf("after the crash: %d of %d files left, %d manifests", left, n, mans)
	}
	crash.Left = -1
	if got, err := ix.Remove("/src", true); err != nil || len(got) != left {
		t.Fatalf("rm -r again: %d, %v; want %d", len(got), err, left)
	}
	if left, mans := checkIndex(t, kv, "/"); left != 0 || mans != 0 || ix.IsDir("/src") {
		t.Fatalf("after rm -r again: %d files, %d manifests", left, mans)
	}
}

package directio

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestBufferAligned(t *testing.T) {
	for _, n := range []int{Align, 3 * Align, 1 << 20} {
		b := Buffer(n)
		if len(b) != n || cap(b) != n || !Aligned(b) {
			t.Fatalf("Buffer(%d): len %d cap %d aligned %v", n, len(b), cap(b), Aligned(b))
		}
		if Aligned(b[1:]) || Aligned(b[:n-1]) || Aligned(b[:0]) {
			t.Fatalf("Buffer(%d): a misaligned or odd slice counts as aligned", n)
		}
	}
}

// A file written with O_DIRECT in aligned blocks, then through the cache
// for a partial tail, reads back whole; on a file system that refuses
// direct I/O (tmpfs) SetDirect's error is the caller's cue to fall back.
func TestDirectWriteReadBack(t *testing.T) {
	dir, err := os.MkdirTemp(".", "directio-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	f, err := os.Create(filepath.Join(dir, "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := bytes.Repeat([]byte("oepc"), 3*Align/4+100)
	block := Buffer(3 * Align)
	copy(block, want)
	if err := SetDirect(f, true); err != nil {
		t.Skipf("no direct I/O here: %v", err)
	}
	if _, err := f.Write(block); err != nil {
		t.Fatalf("direct write: %v", err)
	}
	if err := SetDirect(f, false); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(want[len(block):]); err != nil {
		t.Fatal(err)
	}
	StartWriteback(f, 0, int64(len(want)))
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := Evict(f); err != nil {
		t.Fatalf("evict: %v", err)
	}
	Prefetch(f)
	got, err := os.ReadFile(f.Name())
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read back %d bytes (%v), want %d", len(got), err, len(want))
	}
}

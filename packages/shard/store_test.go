package shard

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"oepc.dev/oepcos/packages/store"

	"oepc.dev/oepcos/packages/directio"
)

// testStore is a Store on a real badger DB in a temp dir, reopenable.
type testStore struct {
	*Store
	dir   string
	db    *store.DB
	quota int64
}

func openTestStore(t testing.TB, dir string, quota int64) *testStore {
	t.Helper()
	db, err := store.Open(filepath.Join(dir, "db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := OpenStore(filepath.Join(dir, "data"), db, quota, nil)
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	ts := &testStore{Store: s, dir: dir, db: db, quota: quota}
	t.Cleanup(func() { ts.db.Close() })
	return ts
}

func newTestStore(t testing.TB, quota int64) *testStore {
	return openTestStore(t, t.TempDir(), quota)
}

// reopen simulates a restart (the DB is closed cleanly; files stay as they
// are, which is what a SIGKILL leaves on disk as well, since every commit is
// synced).
func (ts *testStore) reopen(t testing.TB) {
	t.Helper()
	if err := ts.db.Close(); err != nil {
		t.Fatal(err)
	}
	n := openTestStore(t, ts.dir, ts.quota)
	ts.Store, ts.db = n.Store, n.db
}

func (ts *testStore) tmpFiles(t testing.TB) []string {
	ents, err := os.ReadDir(ts.tmpDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func (ts *testStore) put(t testing.TB, owner Owner, data []byte) ID {
	t.Helper()
	id := Sum(data)
	if err := ts.Put(owner, id, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("Put: %v", err)
	}
	return id
}

func TestStoreRoundTrip(t *testing.T) {
	s := newTestStore(t, 1<<20)
	alice := newOwner(t)
	data := randBytes(t, 100_000)
	id := s.put(t, alice, data)

	if ok, err := s.Has(id); !ok || err != nil {
		t.Fatalf("Has = %v, %v", ok, err)
	}
	got, err := s.Get(id)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get: %v (equal %v)", err, bytes.Equal(got, data))
	}
	rc, size, err := s.Open(id)
	if err != nil || size != int64(len(data)) {
		t.Fatalf("Open = %d, %v", size, err)
	}
	got, err = io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Open/ReadAll: %v", err)
	}
	if used, q := s.Usage(); used != int64(len(data)) || q != 1<<20 {
		t.Fatalf("Usage = %d, %d", used, q)
	}
	if _, err := os.Stat(s.path(id)); err != nil {
		t.Fatalf("shard file: %v", err)
	}
	if fi, _ := os.Stat(filepath.Join(s.dir, "data", "shards", id.String()[:2], id.String()[2:])); fi == nil {
		t.Fatal("shard not under shards/ab/cdef...")
	}

	// Storing it again is a no-op.
	s.put(t, alice, data)
	if used, _ := s.Usage(); used != int64(len(data)) {
		t.Fatalf("Usage after re-put = %d", used)
	}

	if err := s.Delete(alice, id); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.Has(id); ok {
		t.Fatal("Has after Delete")
	}
	if _, err := s.Get(id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Delete: %v", err)
	}
	if err := s.Delete(alice, id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Delete: %v", err)
	}
	if used, _ := s.Usage(); used != 0 {
		t.Fatalf("Usage after Delete = %d", used)
	}
	if _, err := os.Stat(s.path(id)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("file after delete: %v", err)
	}
	if h := s.Hosted(); len(h) != 0 {
		t.Fatalf("Hosted after delete = %v", h)
	}
}

func TestStoreEmptyShard(t *testing.T) {
	s := newTestStore(t, 10)
	id := s.put(t, newOwner(t), nil)
	if got, err := s.Get(id); err != nil || len(got) != 0 {
		t.Fatalf("Get empty = %q, %v", got, err)
	}
}

func TestStoreHashMismatch(t *testing.T) {
	s := newTestStore(t, 1<<20)
	data := randBytes(t, 5000)
	wrong := Sum([]byte("something else"))
	err := s.Put(newOwner(t), wrong, bytes.NewReader(data), int64(len(data)))
	if !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("Put with wrong id: %v", err)
	}
	if ok, _ := s.Has(wrong); ok {
		t.Fatal("mismatched shard indexed")
	}
	if tmp := s.tmpFiles(t); len(tmp) != 0 {
		t.Fatalf("temp files left: %v", tmp)
	}
	if used, _ := s.Usage(); used != 0 {
		t.Fatalf("Usage = %d", used)
	}
	if s.reserved != 0 {
		t.Fatalf("reservation leaked: %d", s.reserved)
	}
}

func TestStoreTruncatedReader(t *testing.T) {
	s := newTestStore(t, 1<<20)
	data := randBytes(t, 5000)
	err := s.Put(newOwner(t), Sum(data), bytes.NewReader(data[:3000]), int64(len(data)))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Put of short reader: %v", err)
	}
	if tmp := s.tmpFiles(t); len(tmp) != 0 {
		t.Fatalf("temp files left: %v", tmp)
	}
	// A reader that fails midway.
	r := io.MultiReader(bytes.NewReader(data[:100]), iotestErrReader{})
	if err := s.Put(newOwner(t), Sum(data), r, int64(len(data))); err == nil {
		t.Fatal("Put of failing reader succeeded")
	}
	if tmp := s.tmpFiles(t); len(tmp) != 0 {
		t.Fatalf("temp files left: %v", tmp)
	}
	if ok, _ := s.Has(Sum(data)); ok {
		t.Fatal("partial shard indexed")
	}
}

type iotestErrReader struct{}

func (iotestErrReader) Read([]byte) (int, error) { return 0, errors.New("connection lost") }

func TestStoreTooLarge(t *testing.T) {
	s := newTestStore(t, 1<<30)
	err := s.Put(newOwner(t), ID{}, bytes.NewReader(nil), MaxShardSize+1)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Put of MaxShardSize+1: %v", err)
	}
	if err := s.Put(newOwner(t), ID{}, bytes.NewReader(nil), -1); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("Put of negative size: %v", err)
	}
}

func TestStoreQuota(t *testing.T) {
	s := newTestStore(t, 10_000)
	alice := newOwner(t)
	s.put(t, alice, randBytes(t, 6000))
	big := randBytes(t, 6000)
	err := s.Put(alice, Sum(big), bytes.NewReader(big), int64(len(big)))
	if !errors.Is(err, ErrOverQuota) {
		t.Fatalf("Put over quota: %v", err)
	}
	s.put(t, alice, randBytes(t, 4000)) // exactly fills it
	if used, q := s.Usage(); used != 10_000 || q != 10_000 {
		t.Fatalf("Usage = %d/%d", used, q)
	}
	if err := s.Put(alice, Sum([]byte{1}), bytes.NewReader([]byte{1}), 1); !errors.Is(err, ErrOverQuota) {
		t.Fatalf("Put into a full quota: %v", err)
	}
	s.SetQuota(20_000)
	id := s.put(t, alice, big)
	// Lowering the quota evicts nothing but refuses new puts.
	s.SetQuota(1000)
	if ok, _ := s.Has(id); !ok {
		t.Fatal("lowering quota evicted a shard")
	}
	if err := s.Put(alice, Sum([]byte{1}), bytes.NewReader([]byte{1}), 1); !errors.Is(err, ErrOverQuota) {
		t.Fatalf("Put after lowering quota: %v", err)
	}
	if used, q := s.Usage(); used != 16_000 || q != 1000 {
		t.Fatalf("Usage = %d/%d", used, q)
	}
}

func TestStoreDeleteOwnership(t *testing.T) {
	s := newTestStore(t, 1<<20)
	alice, bob, eve := newOwner(t), newOwner(t), newOwner(t)
	data := randBytes(t, 1000)
	id := s.put(t, alice, data)
	if err := s.Delete(eve, id); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("Delete by non-owner: %v", err)
	}
	// A second owner must upload the real bytes to get a reference: knowing
	// the ID (other holders and share recipients know it) is not enough.
	fake := bytes.Repeat([]byte{7}, len(data))
	if err := s.Put(eve, id, bytes.NewReader(fake), int64(len(fake))); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("reference claimed with wrong bytes: %v", err)
	}
	if err := s.Delete(eve, id); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("eve got a reference: %v", err)
	}
	// Two owners of the same bytes: each holds a reference.
	s.put(t, bob, data)
	if used, _ := s.Usage(); used != 1000 {
		t.Fatalf("Usage with shared shard = %d", used)
	}
	if err := s.Delete(alice, id); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.Has(id); !ok {
		t.Fatal("shard gone while bob still references it")
	}
	if err := s.Delete(alice, id); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("alice deleting twice: %v", err)
	}
	if err := s.Delete(bob, id); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.Has(id); ok {
		t.Fatal("shard kept after its last owner deleted it")
	}
}

func TestStoreHosted(t *testing.T) {
	s := newTestStore(t, 1<<20)
	alice, bob := newOwner(t), newOwner(t)
	before := time.Now().Add(-time.Second)
	a1 := s.put(t, alice, randBytes(t, 100))
	s.put(t, alice, randBytes(t, 200))
	s.put(t, bob, randBytes(t, 50))
	check := func(when string) {
		t.Helper()
		h := s.Hosted()
		if len(h) != 2 {
			t.Fatalf("%s: Hosted = %+v", when, h)
		}
		if h[0].Owner != alice || h[0].Shards != 2 || h[0].Bytes != 300 {
			t.Errorf("%s: alice entry %+v", when, h[0])
		}
		if h[1].Owner != bob || h[1].Shards != 1 || h[1].Bytes != 50 {
			t.Errorf("%s: bob entry %+v", when, h[1])
		}
		for _, e := range h {
			if e.Since.Before(before) || e.Since.After(time.Now()) {
				t.Errorf("%s: since %v", when, e.Since)
			}
		}
	}
	check("live")
	since := s.Hosted()[0].Since
	s.reopen(t)
	check("after reopen")
	if got := s.Hosted()[0].Since; !got.Equal(since) {
		t.Errorf("since changed over reopen: %v → %v", since, got)
	}
	if err := s.Delete(alice, a1); err != nil {
		t.Fatal(err)
	}
	h := s.Hosted()
	if h[0].Owner != alice || h[0].Shards != 1 || h[0].Bytes != 200 {
		t.Errorf("after delete: %+v", h[0])
	}
	n := 0
	s.Each(func(ID, int64) error { n++; return nil })
	if n != 2 {
		t.Errorf("Each saw %d shards, want 2", n)
	}
}

func TestStoreCorruptOnDisk(t *testing.T) {
	s := newTestStore(t, 1<<20)
	alice := newOwner(t)
	data := randBytes(t, 10_000)
	id := s.put(t, alice, data)
	// Flip one byte in place (same size).
	f, err := os.OpenFile(s.path(id), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte{data[5000] ^ 0xff}, 5000)
	f.Close()
	if _, err := s.Get(id); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Get of corrupt shard: %v", err)
	}
	// The corrupt shard is dropped so audits see it missing.
	if ok, _ := s.Has(id); ok {
		t.Fatal("corrupt shard still indexed")
	}
	if used, _ := s.Usage(); used != 0 {
		t.Fatalf("Usage = %d", used)
	}
	if len(s.Hosted()) != 0 {
		t.Fatalf("Hosted = %v", s.Hosted())
	}

	// A truncated file is caught at Open.
	id = s.put(t, alice, data)
	if err := os.Truncate(s.path(id), 100); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Open(id); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open of truncated shard: %v", err)
	}
}

// TestStoreCrashLeftovers builds the states a SIGKILL can leave and checks
// that reopening reconciles them.
func TestStoreCrashLeftovers(t *testing.T) {
	s := newTestStore(t, 1<<20)
	alice := newOwner(t)
	keep := randBytes(t, 1000)
	keepID := s.put(t, alice, keep)

	// Killed mid-put: a temp file.
	if err := os.WriteFile(filepath.Join(s.tmpDir, "put-123"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Killed between rename and index commit: a file without index.
	orphan := randBytes(t, 500)
	orphanID := Sum(orphan)
	os.MkdirAll(filepath.Dir(s.path(orphanID)), 0o700)
	if err := os.WriteFile(s.path(orphanID), orphan, 0o600); err != nil {
		t.Fatal(err)
	}
	// Junk in the shards dir.
	os.WriteFile(filepath.Join(s.shardsDir, "junk"), []byte("x"), 0o600)
	// A shard whose file vanished (disk trouble): index without file.
	lost := randBytes(t, 700)
	lostID := s.put(t, alice, lost)
	os.Remove(s.path(lostID))

	s.reopen(t)

	if tmp := s.tmpFiles(t); len(tmp) != 0 {
		t.Fatalf("temp files left: %v", tmp)
	}
	if _, err := os.Stat(s.path(orphanID)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("orphan file kept: %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.shardsDir, "junk")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("junk kept: %v", err)
	}
	if ok, _ := s.Has(lostID); ok {
		t.Fatal("lost shard still indexed")
	}
	if got, err := s.Get(keepID); err != nil || !bytes.Equal(got, keep) {
		t.Fatalf("good shard after reopen: %v", err)
	}
	if used, _ := s.Usage(); used != 1000 {
		t.Fatalf("Usage after reconcile = %d", used)
	}
	if h := s.Hosted(); len(h) != 1 || h[0].Shards != 1 || h[0].Bytes != 1000 {
		t.Fatalf("Hosted after reconcile = %+v", h)
	}
}

// devFull returns a path to a /dev/full device (writes fail with ENOSPC,
// the way a full disk does), making one if the system has none.
func devFull(t testing.TB) string {
	if _, err := os.Stat("/dev/full"); err == nil {
		return "/dev/full"
	}
	p := filepath.Join(t.TempDir(), "full")
	if err := syscall.Mknod(p, syscall.S_IFCHR|0o666, 1<<8|7); err != nil {
		t.Skipf("no /dev/full and cannot make one: %v", err)
	}
	return p
}

// TestStoreDiskFull fills a real (tiny tmpfs) file system when allowed to
// mount one, and otherwise writes the temp file to /dev/full.
func TestStoreDiskFull(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o700)
	err := syscall.Mount("tmpfs", data, "tmpfs", 0, "size=256k")
	if err == nil {
		t.Cleanup(func() { syscall.Unmount(data, 0) })
		s := openTestStore(t, dir, 1<<30)
		owner := newOwner(t)
		var stored []ID
		for range 10 {
			b := randBytes(t, 60_000)
			if err = s.Put(owner, Sum(b), bytes.NewReader(b), int64(len(b))); err != nil {
				break
			}
			stored = append(stored, Sum(b))
		}
		if !errors.Is(err, ErrDiskFull) || !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("filling a 256k file system: %v", err)
		}
		if tmp := s.tmpFiles(t); len(tmp) != 0 {
			t.Fatalf("temp files left on a full disk: %v", tmp)
		}
		for _, id := range stored {
			if _, err := s.Get(id); err != nil {
				t.Fatalf("shard stored before the disk filled: %v", err)
			}
		}
		if used, _ := s.Usage(); used != int64(len(stored))*60_000 {
			t.Fatalf("Usage = %d for %d shards", used, len(stored))
		}
		return
	}
	t.Logf("cannot mount tmpfs (%v); using /dev/full", err)
	full := devFull(t)
	s := newTestStore(t, 1<<20)
	s.createTemp = func(string, string) (*os.File, error) {
		return os.OpenFile(full, os.O_WRONLY, 0)
	}
	b := randBytes(t, 100_000)
	err = s.Put(newOwner(t), Sum(b), bytes.NewReader(b), int64(len(b)))
	if !errors.Is(err, ErrDiskFull) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Put on a full disk: %v", err)
	}
	if s.reserved != 0 {
		t.Fatalf("reservation leaked: %d", s.reserved)
	}
}

func TestStoreConcurrentPuts(t *testing.T) {
	s := newTestStore(t, 1<<30)
	owners := []Owner{newOwner(t), newOwner(t)}
	shared := randBytes(t, 20_000) // both owners race to store the same bytes
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := owners[i%2]
			data := shared
			if i >= 8 {
				data = randBytes(t, 10_000+i)
			}
			if err := s.Put(o, Sum(data), bytes.NewReader(data), int64(len(data))); err != nil {
				errs <- fmt.Errorf("put %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var want int64 = 20_000
	for i := 8; i < 32; i++ {
		want += int64(10_000 + i)
	}
	if used, _ := s.Usage(); used != want {
		t.Fatalf("Usage = %d, want %d", used, want)
	}
	var sum int64
	for _, h := range s.Hosted() {
		sum += h.Bytes
	}
	if sum != want+20_000 { // the shared shard counts for both owners
		t.Fatalf("Hosted bytes = %d, want %d", sum, want+20_000)
	}
	if tmp := s.tmpFiles(t); len(tmp) != 0 {
		t.Fatalf("temp files left: %v", tmp)
	}
	s.reopen(t)
	if used, _ := s.Usage(); used != want {
		t.Fatalf("Usage after reopen = %d, want %d", used, want)
	}
}

// Shards are written in direct-I/O chunks with a buffered tail: every size
// around a block or chunk boundary must come back byte for byte, and on a
// file system that takes direct I/O (the box's ext4) it must be used.
func TestStoreWriteSizes(t *testing.T) {
	s := newTestStore(t, 1<<30)
	owner := newOwner(t)
	for _, n := range []int{1, 4095, 4096, 4097, chunkSize - 1, chunkSize, chunkSize + 1, 3*chunkSize + 12345} {
		b := randBytes(t, n)
		if err := s.Put(owner, Sum(b), bytes.NewReader(b), int64(n)); err != nil {
			t.Fatalf("put %d bytes: %v", n, err)
		}
		got, err := s.Get(Sum(b))
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("get %d bytes: %d bytes back, %v", len(got), n, err)
		}
	}

	f, err := os.CreateTemp(t.TempDir(), "direct")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := directio.SetDirect(f, true); err != nil {
		t.Skipf("no direct I/O here: %v", err)
	}
	w := directWriter{f: f, direct: true}
	if err := w.write((*chunkPool.Get().(*[]byte))[:chunkSize]); err != nil {
		t.Fatal(err)
	}
	if !w.direct {
		t.Fatal("a whole aligned chunk fell back to the page cache")
	}
	if err := w.write(make([]byte, 100)); err != nil || w.direct {
		t.Fatalf("a partial block: err %v, still direct %v", err, w.direct)
	}
	if fi, _ := f.Stat(); fi.Size() != chunkSize+100 {
		t.Fatalf("file is %d bytes, want %d", fi.Size(), chunkSize+100)
	}
}

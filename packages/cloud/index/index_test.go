package index

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"oepc.dev/oepcos/packages/store"
	"oepc.dev/oepcos/packages/store/storetest"
)

func names(t *testing.T, ix *Index, dir string) string {
	t.Helper()
	items, err := ix.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, it := range items {
		n := it.Name
		if it.Dir {
			n += "/"
		}
		s = append(s, n)
	}
	return strings.Join(s, " ")
}

func TestIndexOps(t *testing.T) {
	changes := 0
	ix := New(Config{KV: openKV(t), Changed: func() { changes++ }})
	a := put(t, ix, "/docs/a.txt")
	put(t, ix, "/docs/sub/b.txt")
	put(t, ix, "/top.txt")
	if err := ix.Mkdir("/empty"); err != nil {
		t.Fatal(err)
	}
	if changes != 4 {
		t.Fatalf("%d changes reported, want 4", changes)
	}
	if got := names(t, ix, "/"); got != "docs/ empty/ top.txt" {
		t.Fatalf("ls / = %q", got)
	}
	if got := names(t, ix, "/docs"); got != "a.txt sub/" {
		t.Fatalf("ls /docs = %q", got)
	}
	if got := names(t, ix, "/docs/a.txt"); got != "a.txt" {
		t.Fatalf("ls of a file = %q", got)
	}
	if _, err := ix.List("/nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ls /nope: %v", err)
	}
	if err := ix.Mkdir("/top.txt"); !errors.Is(err, ErrExists) {
		t.Fatalf("mkdir over a file: %v", err)
	}
	// Rename a file.
	if _, err := ix.Move("/top.txt", "/renamed.txt"); err != nil {
		t.Fatal(err)
	}
	if e, err := ix.Stat("/renamed.txt"); err != nil || e.Path != "/renamed.txt" {
		t.Fatal(e, err)
	}
	// Move into an existing folder.
	if dst, err := ix.Move("/renamed.txt", "/empty"); err != nil || dst != "/empty/renamed.txt" {
		t.Fatal(dst, err)
	}
	// Move a folder.
	if _, err := ix.Move("/docs", "/archive/2026"); err != nil {
		t.Fatal(err)
	}
	if got := names(t, ix, "/archive/2026"); got != "a.txt sub/" {
		t.Fatalf("after mv: %q", got)
	}
	if e, err := ix.Stat("/archive/2026/a.txt"); err != nil || e.File != a.File {
		t.Fatal(e, err)
	}
	if _, err := ix.Stat("/docs/a.txt"); !errors.Is(err, ErrNotFound) {
		t.Fatal("old path still there")
	}
	if _, err := ix.Move("/archive", "/archive/2026/x"); !errors.Is(err, ErrBadPath) {
		t.Fatalf("moved a folder into itself: %v", err)
	}
	if _, err := ix.Move("/", "/x"); !errors.Is(err, ErrBadPath) {
		t.Fatalf("moved the root: %v", err)
	}
	if _, err := ix.Move("/nope", "/x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("moved nothing: %v", err)
	}
	put(t, ix, "/x")
	if _, err := ix.Move("/x", "/empty/renamed.txt"); !errors.Is(err, ErrExists) {
		t.Fatalf("overwrite by move: %v", err)
	}
	// Remove.
	if _, err := ix.Remove("/archive", false); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("removed a non-empty folder without recursive: %v", err)
	}
	mans, err := ix.Remove("/archive", true)
	if err != nil || len(mans) != 2 {
		t.Fatal(len(mans), err)
	}
	if !slices.ContainsFunc(mans, func(m *Manifest) bool { return m.File == a.File }) {
		t.Fatal("the removed files' manifests are not returned")
	}
	if ix.HasManifest(a.File) {
		t.Fatal("a removed file's manifest is left")
	}
	if got := names(t, ix, "/"); got != "empty/ x" {
		t.Fatalf("ls / = %q", got)
	}
	if _, err := ix.Remove("/nope", false); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	if _, err := ix.Remove("/empty/renamed.txt", false); err != nil {
		t.Fatal(err)
	}
	if mans, err := ix.Remove("/empty", false); err != nil || len(mans) != 0 || ix.IsDir("/empty") {
		t.Fatalf("rmdir of an empty folder: %d, %v", len(mans), err)
	}
}

func TestCleanPath(t *testing.T) {
	for in, want := range map[string]string{"a": "/a", "/a/b/": "/a/b", "//a//b": "/a/b", "/": "/", "/a/./b": "/a/b"} {
		if got, err := CleanPath(in); err != nil || got != want {
			t.Errorf("CleanPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "/a/../b", "/a\x00b", "/a\x7fb", "/" + strings.Repeat("a", 1024)} {
		if _, err := CleanPath(bad); !errors.Is(err, ErrBadPath) {
			t.Errorf("CleanPath(%q): %v", bad, err)
		}
	}
}

// Committing over a file replaces it and hands back the old manifest.
func TestCommitReplaces(t *testing.T) {
	ix := New(Config{KV: openKV(t)})
	old := put(t, ix, "/f")
	man := testManifest(2*seg+1, 4, 2)
	e, oldMan, err := ix.Commit("/f", man, false)
	if err != nil || oldMan == nil || oldMan.File != old.File || e.File != man.File || e.Size != man.Size {
		t.Fatal(e, oldMan, err)
	}
	if ix.HasManifest(old.File) {
		t.Fatal("the replaced file's manifest is left")
	}
	got, err := ix.Manifest(man.File)
	if err != nil || len(got.Segments) != 3 {
		t.Fatal(got, err)
	}
	if _, err := ix.Manifest(old.File); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	files, err := ix.Files()
	if err != nil || len(files) != 1 || files[0].File != man.File {
		t.Fatal(files, err)
	}
}

// A delivery's name is the first free one, chosen in the commit.
func TestFreeName(t *testing.T) {
	ix := New(Config{KV: openKV(t)})
	put(t, ix, "/Received/a.jpg")
	if err := ix.Mkdir("/Received/a (2).jpg"); err != nil {
		t.Fatal(err)
	}
	if p, err := ix.FreeName("/Received/a.jpg"); err != nil || p != "/Received/a (3).jpg" {
		t.Fatal(p, err)
	}
	if p, err := ix.FreeName("/Received/b"); err != nil || p != "/Received/b" {
		t.Fatal(p, err)
	}
	e, old, err := ix.Commit("/Received/a.jpg", testManifest(1, 1, 0), true)
	if err != nil || old != nil || e.Path != "/Received/a (3).jpg" {
		t.Fatal(e, old, err)
	}
	in, err := ix.FilesIn("/Received")
	if err != nil || len(in) != 2 {
		t.Fatal(in, err)
	}
}

// UpdateManifest edits the current manifest, and finds a removed file
// gone.
func TestUpdateManifest(t *testing.T) {
	ix := New(Config{KV: openKV(t)})
	e := put(t, ix, "/f")
	before, _ := ix.Manifest(e.File)
	id := testManifest(1, 1, 0).Segments[0].Shards[0].ID
	err := ix.UpdateManifest(e.File, func(m *Manifest) { m.Segments[0].Shards[0].ID = id })
	if err != nil {
		t.Fatal(err)
	}
	if m, err := ix.Manifest(e.File); err != nil || m.Segments[0].Shards[0].ID != id || m.Size != before.Size {
		t.Fatalf("after the update: %+v, %v", m, err)
	}
	ix.Remove("/f", false)
	if err := ix.UpdateManifest(e.File, func(*Manifest) { t.Fatal("edited a removed file") }); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
}

// A snapshot restores into an empty index; a restore cut off leaves its
// record, and restoring again completes it.
func TestSnapshotRestore(t *testing.T) {
	ix := New(Config{KV: openKV(t)})
	addFiles(t, ix.kv, "/docs", 3000)
	ix.Mkdir("/empty")
	snap, err := ix.Snapshot()
	if err != nil || len(snap.Entries) != 3000 || len(snap.Manifests) != 3000 || !slices.Equal(snap.Dirs, []string{"/empty"}) {
		t.Fatalf("snapshot: %d entries, %d manifests, dirs %v, %v", len(snap.Entries), len(snap.Manifests), snap.Dirs, err)
	}
	kv := openKV(t)
	crash := &storetest.CrashKV{KV: kv, Left: 2}
	fresh := New(Config{KV: crash})
	lastRan := false
	last := func(b *store.Batch) error { lastRan = true; b.Put([]byte("test/last"), []byte("1")); return nil }
	if err := fresh.Restore(snap, 7, last); !errors.Is(err, storetest.ErrCrash) {
		t.Fatalf("restore through a crashing KV: %v", err)
	}
	if got, _ := checkIndex(t, kv, "/docs"); got == 0 || got == 3000 {
		t.Fatalf("after the crash %d files; want some", got)
	}
	if !fresh.Recovering() {
		t.Fatal("no record of the restore cut off")
	}
	if _, err := kv.Get([]byte("test/last")); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("the last transaction ran before the end")
	}
	crash.Left = -1
	if err := fresh.Restore(snap, 7, last); err != nil || !lastRan {
		t.Fatal(err)
	}
	if got, mans := checkIndex(t, kv, "/docs"); got != 3000 || mans != 3000 || fresh.Recovering() || !fresh.IsDir("/empty") {
		t.Fatalf("after restoring again: %d files, %d manifests", got, mans)
	}
	if _, err := kv.Get([]byte("test/last")); err != nil {
		t.Fatal("the last transaction's writes are missing")
	}
}

package cloud

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"

	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"oepc.dev/oepcos/packages/cloud/cloudtest"
	"oepc.dev/oepcos/packages/cloud/codec"

	"oepc.dev/oepcos/packages/cloud/index"
	"oepc.dev/oepcos/packages/p2p/p2ptest"
	"oepc.dev/oepcos/packages/store"
	"oepc.dev/oepcos/packages/store/storetest"
)

// Tests of index operations on more entries than one badger transaction
// holds (about 6,500 writes), and of their order across a crash.

// addFiles writes n index entries under dir straight into the KV, as if
// n tiny files had been put at 1+0: each has a manifest of one segment
// with one shard (a random ID, one byte) on the fake holders. Putting
// them through the pipeline would take minutes.
func addFiles(t testing.TB, kv store.KV, f *cloudtest.Holders, holders []peer.ID, dir string, n int) {
	t.Helper()
	err := store.Chunked(kv, func(b *store.Batch) error {
		for i := range n {
			file := codec.NewFileID()
			man := &index.Manifest{Version: index.ManifestVersion, File: file, Size: 1, K: 1, M: 0,
				SegmentSize: seg, WrappedKey: make([]byte, index.WrappedKeySize), Created: time.Now().UTC(),
				Segments: []index.Segment{{Len: 1 + codec.Overhead}}}
			var id codec.ShardID
			rand.Read(id[:])
			h := holders[i%len(holders)]
			f.Set(func() { f.Boxes[h][id] = []byte{1} })
			man.Segments[0].Shards = []index.ShardRef{{ID: id, Holder: h}}
			mb, err := index.MarshalManifest(man)
			if err != nil {
				return err
			}
			p := fmt.Sprintf("%s/d%02d/f%05d", dir, i%50, i)
			eb, _ := json.Marshal(&index.Entry{Path: p, File: file, Size: 1, K: 1, M: 0, Created: man.Created})
			b.Put(metaKey(p), eb)
			b.Put(manKey(file), mb)
			b.Cut()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkIndex fails t on an inconsistent index and returns how many
// entries lie under dir and how many manifests there are.
func checkIndex(t testing.TB, kv store.KV, dir string) (under, manifests int) {
	t.Helper()
	under, manifests, err := index.Audit(kv, dir)
	if err != nil {
		t.Fatal(err)
	}
	return under, manifests
}

// TestTwentyThousandFiles moves, backs up, recovers and removes a folder
// of 20,000 files (and a few real ones beside them).
func TestTwentyThousandFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("20,000 files take a while under the race detector")
	}
	const n = 20000
	boxes, f := newNet(t, 3)
	a := boxes[0]
	a.s.cfg.SegmentSize = 1 << 20 // the index backup is ~25 MB: few segments, a small root record
	ctx := context.Background()
	holders := []peer.ID{boxes[0].h.ID(), boxes[1].h.ID(), boxes[2].h.ID()}
	real := map[string][]byte{}
	for i := range 3 {
		p := fmt.Sprintf("/photos/real%d", i)
		real[p] = randBytes(100 + i)
		if _, err := a.s.Put(ctx, p, bytes.NewReader(real[p]), PutOptions{Force: true}); err != nil {
			t.Fatal(err)
		}
	}
	addFiles(t, a.kv, f, holders, "/photos", n)
	for i := range 50 {
		if err := a.s.Mkdir(fmt.Sprintf("/photos/empty%02d", i)); err != nil {
			t.Fatal(err)
		}
	}

	t0 := time.Now()
	if _, err := a.s.Move("/photos", "/archive/photos"); err != nil {
		t.Fatalf("mv of %d files: %v", n, err)
	}
	t.Logf("mv of %d files: %v", n+3, time.Since(t0))
	if under, mans := checkIndex(t, a.kv, "/archive/photos"); under != n+3 || mans != n+3 {
		t.Fatalf("after mv: %d files under /archive/photos, %d manifests", under, mans)
	}
	if items, _ := a.s.List("/"); len(items) != 1 || items[0].Name != "archive" {
		t.Fatalf("ls / after mv: %+v", items)
	}
	if items, _ := a.s.List("/archive/photos"); len(items) != 50+50+3 {
		t.Fatalf("ls /archive/photos after mv: %d items", len(items))
	}

	t0 = time.Now()
	if _, err := a.s.Backup(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("backup of %d files: %v", n+3, time.Since(t0))
	a.h.Close()
	fresh := newP2PBox(t, f, func() []peer.ID { return holders[1:] }, nil)
	for _, b := range boxes[1:] {
		b.friends[fresh.h.ID()] = true
		fresh.friends[b.h.ID()] = true
		p2ptest.Connect(t, fresh.h, b.h)
	}
	t0 = time.Now()
	phrase, _ := a.s.Owner()
	got, err := fresh.s.Recover(ctx, phrase.Phrase())
	if err != nil || got != n+3 {
		t.Fatalf("recover of %d files: %d, %v", n+3, got, err)
	}
	t.Logf("recover of %d files: %v", n+3, time.Since(t0))
	if under, mans := checkIndex(t, fresh.kv, "/archive/photos"); under != n+3 || mans != n+3 {
		t.Fatalf("after recover: %d files under /archive/photos, %d manifests", under, mans)
	}
	for p, d := range real {
		var buf bytes.Buffer
		p = "/archive" + p
		if _, err := fresh.s.Get(ctx, p, &buf); err != nil || !bytes.Equal(buf.Bytes(), d) {
			t.Fatalf("get %s after recover: %v", p, err)
		}
	}

	before := f.Count()
	t0 = time.Now()
	removed, err := fresh.s.Remove(ctx, "/archive", true)
	if err != nil || removed != n+3 {
		t.Fatalf("rm -r of %d files: %d, %v", n+3, removed, err)
	}
	t.Logf("rm -r of %d files: %v", n+3, time.Since(t0))
	if under, mans := checkIndex(t, fresh.kv, "/"); under != 0 || mans != 0 {
		t.Fatalf("after rm -r: %d files, %d manifests", under, mans)
	}
	if items, _ := fresh.s.List("/"); len(items) != 0 {
		t.Fatalf("ls / after rm -r: %d items", len(items))
	}
	if gone := before - f.Count(); gone != n+6*3 {
		t.Fatalf("rm -r deleted %d shards, want %d", gone, n+6*3)
	}
}

// bigManifest is a placed file of n segments at 1+0 whose shards are on
// the fake holders, with the journal record a put writes per segment.
func bigManifest(t *testing.T, e *testEnv, n int) *index.Manifest {
	t.Helper()
	man := &index.Manifest{Version: index.ManifestVersion, File: codec.NewFileID(), Size: int64(n) * seg, K: 1, M: 0,
		SegmentSize: seg, WrappedKey: make([]byte, index.WrappedKeySize), Created: time.Now().UTC()}
	err := store.Chunked(e.kv, func(b *store.Batch) error {
		for i := range n {
			var id codec.ShardID
			rand.Read(id[:])
			h := e.peers[i%len(e.peers)]
			e.f.Set(func() { e.f.Boxes[h][id] = []byte{1} })
			refs := []index.ShardRef{{ID: id, Holder: h}}
			man.Segments = append(man.Segments, index.Segment{Len: seg + codec.Overhead, Shards: refs})
			v, _ := json.Marshal(&pendingPut{Segments: map[int][]index.ShardRef{i: refs}})
			b.Put(pendingKey(man.File, i), v)
			b.Cut()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return man
}

func journalRecords(kv store.KV) int {
	n := 0
	kv.Scan([]byte(prefixPending), func(k, v []byte) error { n++; return nil })
	return n
}

// A put with more segments than one transaction has room for journal
// deletions (8 MiB segments: above about 51 GiB) commits, and keeps its
// shards.
func TestCommitManyJournalRecords(t *testing.T) {
	e := newEnv(t, 6, nil)
	const n = 8000
	man := bigManifest(t, e, n)
	if _, err := e.s.commit(context.Background(), "/huge", man, false); err != nil {
		t.Fatalf("commit of %d segments: %v", n, err)
	}
	if _, err := e.s.Stat("/huge"); err != nil {
		t.Fatal(err)
	}
	if got, err := e.s.Manifest("/huge"); err != nil || len(got.Segments) != n {
		t.Fatalf("manifest after commit: %v", err)
	}
	if r := journalRecords(e.kv); r != 0 {
		t.Fatalf("%d journal records left", r)
	}
	if c := e.f.Count(); c != n {
		t.Fatalf("%d shards on the holders, want %d", c, n)
	}
}

// A crash after a put's commit but before its journal is gone must not
// cost the file its shards at the next start.
func TestCrashAfterCommitKeepsShards(t *testing.T) {
	crash := &storetest.CrashKV{Left: -1}
	e := newEnv(t, 6, func(c *Config) { crash.KV = c.KV; c.KV = crash })
	data := randBytes(3 * seg)
	crash.Left = 1 // the commit, then the box dies
	e.put(t, "/f", data, PutOptions{})
	if r := journalRecords(e.kv); r != 3 {
		t.Fatalf("%d journal records after the crash, want 3", r)
	}
	shards := e.f.Count()
	// The restart.
	s, err := New(Config{KV: e.kv, Holders: e.f, Peers: func() []peer.ID { return e.peers }, Owner: e.s.owner.Load(), SegmentSize: seg})
	if err != nil {
		t.Fatal(err)
	}
	s.cleanupPending(context.Background())
	if r := journalRecords(e.kv); r != 0 {
		t.Fatalf("%d journal records left after the clean-up", r)
	}
	if c := e.f.Count(); c != shards {
		t.Fatalf("the clean-up deleted %d shards of a committed file", shards-c)
	}
	var buf bytes.Buffer
	if _, err := s.Get(context.Background(), "/f", &buf); err != nil || !bytes.Equal(buf.Bytes(), data) {
		t.Fatalf("get after the restart: %v", err)
	}
}

// A recovery cut off between transactions leaves no owner key, and Setup
// refuses; recovering again completes it.
func TestRecoverAfterCrash(t *testing.T) {
	boxes, f := newNet(t, 3)
	a := boxes[0]
	ctx := context.Background()
	holders := []peer.ID{boxes[0].h.ID(), boxes[1].h.ID(), boxes[2].h.ID()}
	const n = 3000
	addFiles(t, a.kv, f, holders, "/docs", n)
	if _, err := a.s.Backup(ctx); err != nil {
		t.Fatal(err)
	}
	fresh := newP2PBox(t, f, func() []peer.ID { return holders[1:] }, nil)
	for _, b := range boxes[1:] {
		b.friends[fresh.h.ID()] = true
		fresh.friends[b.h.ID()] = true
		p2ptest.Connect(t, fresh.h, b.h)
	}
	crash := &storetest.CrashKV{KV: fresh.kv, Left: 2}
	fresh.s.cfg.KV = crash
	fresh.s.ix = index.New(index.Config{KV: crash, Changed: fresh.s.dirty})
	phrase, _ := a.s.Owner()
	if _, err := fresh.s.Recover(ctx, phrase.Phrase()); !errors.Is(err, storetest.ErrCrash) {
		t.Fatalf("recover through a crashing KV: %v", err)
	}
	if got, _ := checkIndex(t, fresh.kv, "/docs"); got == 0 || got == n {
		t.Fatalf("after the crash %d of %d files; want some", got, n)
	}
	if _, err := fresh.kv.Get(keyOwner); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("owner key stored by a recovery cut off: %v", err)
	}
	if _, err := fresh.s.Owner(); err == nil {
		t.Fatal("owner key set by a recovery cut off")
	}
	if _, err := fresh.s.Setup(); err == nil {
		t.Fatal("setup over a partial recovery")
	}
	crash.Left = -1
	if got, err := fresh.s.Recover(ctx, phrase.Phrase()); err != nil || got != n {
		t.Fatalf("recover again: %d, %v", got, err)
	}
	if got, mans := checkIndex(t, fresh.kv, "/docs"); got != n || mans != n {
		t.Fatalf("after recovering again: %d files, %d manifests", got, mans)
	}
	if _, err := fresh.kv.Get([]byte(keyRecovering)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("recovery mark left: %v", err)
	}
}

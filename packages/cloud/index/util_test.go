package index

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"oepc.dev/oepcos/packages/cloud/codec"
	"oepc.dev/oepcos/packages/store"
)

const seg = codec.MinSegmentSize

func openKV(t testing.TB) store.KV {
	t.Helper()
	kv, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kv.Close() })
	return kv
}

// testManifest is a valid manifest of a file of size bytes at k+m in
// segments of seg bytes, its shards random IDs on no holder.
func testManifest(size int64, k, m int) *Manifest {
	man := &Manifest{Version: ManifestVersion, File: codec.NewFileID(), Size: size, K: k, M: m,
		SegmentSize: seg, WrappedKey: make([]byte, WrappedKeySize), Created: time.Now().UTC()}
	n := numSegments(size, seg)
	for i := range n {
		plain := int64(seg)
		if i == n-1 {
			plain = size - i*seg
		}
		sg := Segment{Len: int(plain) + codec.Overhead}
		for range k + m {
			var id codec.ShardID
			rand.Read(id[:])
			sg.Shards = append(sg.Shards, ShardRef{ID: id})
		}
		man.Segments = append(man.Segments, sg)
	}
	return man
}

// put commits a small file at p.
func put(t testing.TB, ix *Index, p string) *Entry {
	t.Helper()
	e, _, err := ix.Commit(p, testManifest(1, 1, 0), false)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// addFiles writes n index entries under dir straight into the KV, each
// with a manifest of one segment with one shard, whole files per
// transaction: committing them one by one would take long.
func addFiles(t testing.TB, kv store.KV, dir string, n int) {
	t.Helper()
	err := store.Chunked(kv, func(b *store.Batch) error {
		for i := range n {
			man := testManifest(1, 1, 0)
			mb, err := MarshalManifest(man)
			if err != nil {
				return err
			}
			p := fmt.Sprintf("%s/d%02d/f%05d", dir, i%50, i)
			eb, _ := json.Marshal(&Entry{Path: p, File: man.File, Size: 1, K: 1, M: 0, Created: man.Created})
			b.Put(metaKey(p), eb)
			b.Put(manKey(man.File), mb)
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
	under, manifests, err := Audit(kv, dir)
	if err != nil {
		t.Fatal(err)
	}
	return under, manifests
}

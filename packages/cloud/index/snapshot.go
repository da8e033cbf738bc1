package index

import (
	"encoding/json"
	"fmt"

	"oepc.dev/oepcos/packages/store"
)

// SnapshotVersion is the snapshot format written by this package.
const SnapshotVersion = 1

// Snapshot is the serialized index: what the cloud's index backup holds.
// Manifests[i] is the manifest of Entries[i].
type Snapshot struct {
	V         int               `json:"v"`
	Entries   []Entry           `json:"entries"`
	Dirs      []string          `json:"dirs"`
	Manifests []json.RawMessage `json:"manifests"`
}

// Snapshot returns the whole index, taken under the index lock.
func (ix *Index) Snapshot() (*Snapshot, error) {
	snap := &Snapshot{V: SnapshotVersion}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	var err error
	if snap.Entries, err = ix.Files(); err != nil {
		return nil, err
	}
	ix.kv.Scan([]byte(prefixDir+"/"), func(k, v []byte) error {
		snap.Dirs = append(snap.Dirs, string(k[len(prefixDir):]))
		return nil
	})
	for _, e := range snap.Entries {
		b, err := ix.kv.Get(manKey(e.File))
		if err != nil {
			return nil, fmt.Errorf("cloud: snapshot: manifest of %s: %w", e.Path, err)
		}
		snap.Manifests = append(snap.Manifests, b)
	}
	return snap, nil
}

// Restore writes the entries, manifests and folders of snap (a recovery
// of the backup numbered seq) into the index, over what is there. A
// large index goes in several transactions: the first records the
// recovery (Recovering reports it), each holds whole files (entry and
// manifest), and the last, in which last adds the caller's own writes,
// ends the record. A crash in between leaves the record; restoring again
// rewrites every entry. An entry with a bad path or manifest ends the
// restore with an error, after the transactions already made.
func (ix *Index) Restore(snap *Snapshot, seq uint64, last func(*store.Batch) error) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return store.Chunked(ix.kv, func(b *store.Batch) error {
		b.Put(keyRecovering, fmt.Appendf(nil, `{"seq":%d}`, seq))
		b.Cut()
		for i, e := range snap.Entries {
			p, err := CleanPath(e.Path)
			if err != nil {
				return err
			}
			m, err := UnmarshalManifest(snap.Manifests[i])
			if err != nil || m.File != e.File {
				return fmt.Errorf("cloud: index backup: bad manifest for %s", e.Path)
			}
			eb, _ := json.Marshal(e)
			b.Put(metaKey(p), eb)
			b.Put(manKey(e.File), snap.Manifests[i])
			b.Cut()
		}
		for _, d := range snap.Dirs {
			if p, err := CleanPath(d); err == nil {
				b.Put(dirKey(p), []byte("{}"))
				b.Cut()
			}
		}
		b.Delete(keyRecovering)
		return last(b)
	})
}

// Recovering reports whether a Restore was cut off: the index then holds
// only part of the backup.
func (ix *Index) Recovering() bool {
	_, err := ix.kv.Get(keyRecovering)
	return err == nil
}

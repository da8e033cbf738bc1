package shard

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/zeebo/blake3"

	"oepc.dev/oepcos/packages/store"

	"oepc.dev/oepcos/packages/directio"
)

// KV key prefixes owned by this package.
var (
	keyVersion = []byte("shard/version") // → storeVersion (decimal)
	keyIndex   = []byte("shard/i/")      // + 32-byte ID → indexRec (JSON)
	keyOwner   = []byte("shard/o/")      // + 32-byte owner key → ownerRec (JSON)
	keyByOwner = []byte("shard/b/")      // + owner key + shard ID → nothing (for list)
)

// storeVersion 2 keys shards by owner key; version 1 (no version key) keyed
// them by the storing box's peer ID. No box ran version 1 outside tests, so
// a version 1 index is dropped on open rather than migrated: peer IDs do
// not map to owner keys, and the owners' repair puts the shards back.
const storeVersion = "2"

func indexKey(id ID) []byte        { return append(slices.Clip(keyIndex), id[:]...) }
func ownerKey(o Owner) []byte      { return append(slices.Clip(keyOwner), o[:]...) }
func ownerOf(key []byte) Owner     { return Owner(key[len(keyOwner):]) }
func byOwnerPrefix(o Owner) []byte { return append(slices.Clip(keyByOwner), o[:]...) }
func byOwnerKey(o Owner, id ID) []byte {
	return append(byOwnerPrefix(o), id[:]...)
}

// indexRec is the index entry of a shard that is fully on disk. Owners holds
// a reference per owner key that stored it (ciphertext from different owners
// practically never collides, but the protocol must not let one owner delete
// another's shard if it does).
type indexRec struct {
	Size   int64                `json:"size"`
	Owners map[string]time.Time `json:"owners"` // owner key (hex) → when it stored the shard
}

// maxBoxes bounds the boxes remembered per owner (a household has a few).
const maxBoxes = 8

// ownerRec records when an owner's current hosting relationship began (it
// is written with the owner's first shard and removed with its last),
// through which boxes the owner reached this holder, and since when none of
// them has been a friend (the eviction clock).
type ownerRec struct {
	Since    time.Time            `json:"since"`
	Boxes    map[string]time.Time `json:"boxes,omitempty"` // peer ID → last signed request
	Orphaned time.Time            `json:"orphaned,omitzero"`
}

// HostedEntry is one line of "Hosted for others".
type HostedEntry struct {
	Owner  Owner     `json:"owner"`
	Shards int       `json:"shards"`
	Bytes  int64     `json:"bytes"`
	Since  time.Time `json:"since"` // when this owner's current run of hosting began
	// Boxes are the owner's boxes that stored or managed shards here.
	Boxes []peer.ID `json:"boxes,omitempty"`
	// EvictAt is set when none of Boxes is a friend any more: the shards
	// are deleted then (Store.Sweep).
	EvictAt time.Time `json:"evict_at,omitzero"`

	rec ownerRec
}

// Store keeps shards for other boxes under a directory, with a quota. The
// index (which shards, whose, how big) lives in a store.KV under the
// "shard/" prefix.
type Store struct {
	shardsDir, tmpDir string
	kv                store.KV
	log               *slog.Logger

	mu       sync.Mutex // serializes index writes and guards the fields below
	quota    int64
	grace    time.Duration // see Sweep
	used     int64         // bytes of indexed shards
	reserved int64         // bytes of puts in flight
	owners   map[Owner]*HostedEntry

	// createTemp is os.CreateTemp; tests swap it to inject disk faults.
	createTemp func(dir, pattern string) (*os.File, error)
}

// OpenStore opens the shard store under dir, with its index in kv and the
// given quota in bytes. It removes leftovers of interrupted puts and
// reconciles files with the index, so that after a crash every shard is
// either fully present and indexed or gone.
func OpenStore(dir string, kv store.KV, quota int64, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{
		shardsDir:  filepath.Join(dir, "shards"),
		tmpDir:     filepath.Join(dir, "tmp"),
		kv:         kv,
		log:        logger.With("component", "shard-store"),
		quota:      quota,
		grace:      DefaultGrace,
		owners:     make(map[Owner]*HostedEntry),
		createTemp: os.CreateTemp,
	}
	for _, d := range []string{s.shardsDir, s.tmpDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("shard: open store: %w", err)
		}
	}
	if err := s.upgrade(); err != nil {
		return nil, fmt.Errorf("shard: open store: %w", err)
	}
	if err := s.reconcile(); err != nil {
		return nil, fmt.Errorf("shard: open store: %w", err)
	}
	if err := s.reconcileByOwner(); err != nil {
		return nil, fmt.Errorf("shard: open store: %w", err)
	}
	return s, nil
}

func (s *Store) path(id ID) string {
	h := id.String()
	return filepath.Join(s.shardsDir, h[:2], h[2:])
}

// reconcile runs at open, before the store is shared.
func (s *Store) reconcile() error {
	// 1. Temp files are puts that never committed.
	ents, err := os.ReadDir(s.tmpDir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		s.log.Info("removing leftover of an interrupted put", "file", e.Name())
		if err := os.RemoveAll(filepath.Join(s.tmpDir, e.Name())); err != nil {
			return err
		}
	}

	// 2. Index entries whose file is missing or has the wrong size are
	// dropped: the shard is lost and the owner's audit must see it.
	var drop []ID
	err = s.kv.Scan(keyIndex, func(k, v []byte) error {
		var id ID
		if len(k) != len(keyIndex)+len(id) {
			return fmt.Errorf("bad index key %x", k)
		}
		copy(id[:], k[len(keyIndex):])
		var rec indexRec
		if err := json.Unmarshal(v, &rec); err != nil {
			s.log.Error("dropping unreadable index entry", "shard", id, "err", err)
			drop = append(drop, id)
			return nil
		}
		st, err := os.Stat(s.path(id))
		if err != nil || st.Size() != rec.Size || len(rec.Owners) == 0 {
			s.log.Error("dropping index entry without a matching file", "shard", id, "stat_err", err)
			drop = append(drop, id)
			return nil
		}
		s.used += rec.Size
		for o, since := range rec.Owners {
			var p Owner
			if p.UnmarshalText([]byte(o)) != nil {
				continue
			}
			e := s.owners[p]
			if e == nil {
				e = &HostedEntry{Owner: p, Since: since}
				s.owners[p] = e
			}
			e.Shards++
			e.Bytes += rec.Size
			if since.Before(e.Since) {
				e.Since = since
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for chunk := range slices.Chunk(drop, 512) {
		err := s.kv.Batch(func(b *store.Batch) error {
			for _, id := range chunk {
				b.Delete(indexKey(id))
			}
			return nil
		})
		if err != nil {
			return err
		}
	}

	// 3. Files without an index entry are puts that crashed between rename
	// and commit, or deletes that crashed between commit and unlink.
	err = filepath.WalkDir(s.shardsDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(s.shardsDir, path)
		id, perr := ParseID(filepath.Dir(rel) + filepath.Base(rel))
		if perr == nil {
			if _, gerr := s.kv.Get(indexKey(id)); gerr == nil {
				return nil
			} else if !errors.Is(gerr, store.ErrNotFound) {
				return gerr
			}
		}
		s.log.Info("removing unindexed shard file", "file", rel)
		return os.Remove(path)
	})
	if err != nil {
		return err
	}

	// 4. Owner records follow the shards: keep the recorded "since" of
	// owners that still have shards here, forget the others.
	var stale []Owner
	seen := make(map[Owner]bool)
	err = s.kv.Scan(keyOwner, func(k, v []byte) error {
		p := ownerOf(k)
		e := s.owners[p]
		if e == nil {
			stale = append(stale, p)
			return nil
		}
		seen[p] = true
		var rec ownerRec
		if json.Unmarshal(v, &rec) == nil && !rec.Since.IsZero() {
			e.Since = rec.Since
			e.rec = rec
		}
		e.rec.Since = e.Since
		return nil
	})
	if err != nil {
		return err
	}
	return s.kv.Batch(func(b *store.Batch) error {
		for _, p := range stale {
			b.Delete(ownerKey(p))
		}
		for p, e := range s.owners {
			if !seen[p] {
				v, _ := json.Marshal(ownerRec{Since: e.Since})
				b.Put(ownerKey(p), v)
			}
		}
		return nil
	})
}

func (s *Store) getRec(id ID) (*indexRec, error) {
	v, err := s.kv.Get(indexKey(id))
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("shard: index: %w", err)
	}
	var rec indexRec
	if err := json.Unmarshal(v, &rec); err != nil {
		return nil, fmt.Errorf("shard: index entry %s: %w", id, err)
	}
	return &rec, nil
}

// Put stores a shard of exactly size bytes read from r for owner. The bytes
// are hashed while they are written to a temp file; only if they match id is
// the file fsynced, renamed into place and indexed. If owner already stored
// this shard, Put does not read r.
func (s *Store) Put(owner Owner, id ID, r io.Reader, size int64) error {
	return s.PutFrom(owner, "", id, r, size)
}

// PutFrom is Put through box, one of the owner's boxes (remembered for
// eviction: an owner none of whose boxes is a friend is evicted).
func (s *Store) PutFrom(owner Owner, box peer.ID, id ID, r io.Reader, size int64) error {
	reserved, done, err := s.begin(owner, id, size)
	if err != nil || done {
		if done {
			s.Touch(owner, box)
		}
		return err
	}
	defer s.release(reserved)
	if err := s.write(owner, id, r, size); err != nil {
		return err
	}
	s.Touch(owner, box)
	return nil
}

// begin validates a put and reserves quota for it. done reports that owner
// already holds a reference to the shard, so there is nothing to receive.
// A shard stored by another owner must still be uploaded in full: a
// reference is granted only to a peer that proves it has the bytes (IDs are
// known to other holders and to share recipients), but it takes no new quota.
func (s *Store) begin(owner Owner, id ID, size int64) (reserved int64, done bool, err error) {
	if size < 0 {
		return 0, false, fmt.Errorf("%w: negative size", ErrBadRequest)
	}
	if size > MaxShardSize {
		return 0, false, fmt.Errorf("%w: %d bytes > %d", ErrTooLarge, size, MaxShardSize)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, err := s.getRec(id)
	switch {
	case err == nil:
		if rec.Size != size {
			return 0, false, fmt.Errorf("%w: %s is %d bytes, not %d", ErrHashMismatch, id, rec.Size, size)
		}
		_, mine := rec.Owners[owner.String()]
		return 0, mine, nil
	case !errors.Is(err, ErrNotFound):
		return 0, false, err
	}
	if s.used+s.reserved+size > s.quota {
		return 0, false, fmt.Errorf("%w: %d of %d bytes used, %d in flight, shard is %d",
			ErrOverQuota, s.used, s.quota, s.reserved, size)
	}
	s.reserved += size
	return size, false, nil
}

func (s *Store) release(size int64) {
	s.mu.Lock()
	s.reserved -= size
	s.mu.Unlock()
}

// write receives the bytes of a reserved put and commits the shard.
func (s *Store) write(owner Owner, id ID, r io.Reader, size int64) (err error) {
	f, err := s.createTemp(s.tmpDir, "put-*")
	if err != nil {
		return diskErr("create temp file", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	h := blake3.New()
	w := directWriter{f: f}
	w.direct = directio.SetDirect(f, true) == nil
	bp := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(bp)
	buf := *bp
	for n := int64(0); n < size; {
		m, err := io.ReadFull(r, buf[:min(int64(len(buf)), size-n)])
		n += int64(m)
		switch {
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			return fmt.Errorf("shard: put %s: %w: got %d of %d bytes", id, io.ErrUnexpectedEOF, n, size)
		case err != nil:
			// The sender failed (reset, timeout): its request was bad, not us.
			return fmt.Errorf("%w: put %s: receive: %w", ErrBadRequest, id, err)
		}
		h.Write(buf[:m])
		if err := w.write(buf[:m]); err != nil {
			return diskErr("write", err)
		}
	}
	if got := ID(h.Sum(nil)); got != id {
		return fmt.Errorf("%w: got %s, want %s", ErrHashMismatch, got, id)
	}
	if err := f.Sync(); err != nil {
		return diskErr("fsync", err)
	}
	if err := f.Close(); err != nil {
		return diskErr("close", err)
	}
	return s.commit(owner, id, tmp, size)
}

func (s *Store) commit(owner Owner, id ID, tmp string, size int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, err := s.getRec(id)
	switch {
	case err == nil: // already here (another owner, or a concurrent put won)
		os.Remove(tmp)
		return s.addRefLocked(owner, id, rec)
	case !errors.Is(err, ErrNotFound):
		return err
	}
	final := s.path(id)
	if _, err := os.Stat(filepath.Dir(final)); errors.Is(err, fs.ErrNotExist) {
		if err := os.Mkdir(filepath.Dir(final), 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return diskErr("mkdir", err)
		}
		// A new fan-out directory must itself survive a power cut.
		if err := syncDir(s.shardsDir); err != nil {
			return diskErr("fsync dir", err)
		}
	}
	if err := os.Rename(tmp, final); err != nil {
		return diskErr("rename", err)
	}
	// The rename must be durable before the index says the shard exists.
	if err := syncDir(filepath.Dir(final)); err != nil {
		os.Remove(final)
		return diskErr("fsync dir", err)
	}
	rec = &indexRec{Size: size, Owners: map[string]time.Time{}}
	if err := s.addRefLocked(owner, id, rec); err != nil {
		os.Remove(final)
		return err
	}
	s.used += size
	return nil
}

// addRefLocked records owner's reference to the (new or existing) shard.
func (s *Store) addRefLocked(owner Owner, id ID, rec *indexRec) error {
	key := owner.String()
	if _, ok := rec.Owners[key]; ok {
		return nil
	}
	now := time.Now().UTC()
	rec.Owners[key] = now
	v, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	e := s.owners[owner]
	err = s.kv.Batch(func(b *store.Batch) error {
		b.Put(indexKey(id), v)
		b.Put(byOwnerKey(owner, id), binary.BigEndian.AppendUint64(nil, uint64(now.UnixNano())))
		if e == nil {
			ov, _ := json.Marshal(ownerRec{Since: now})
			b.Put(ownerKey(owner), ov)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("shard: index: %w", err)
	}
	if e == nil {
		e = &HostedEntry{Owner: owner, Since: now, rec: ownerRec{Since: now}}
		s.owners[owner] = e
	}
	e.Shards++
	e.Bytes += rec.Size
	return nil
}

// Has reports whether the shard is here.
func (s *Store) Has(id ID) (bool, error) {
	_, err := s.getRec(id)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Delete removes owner's reference to the shard, and the shard itself when
// no owner references it any more. Only an owner that stored the shard may
// delete it (ErrNotOwner).
func (s *Store) Delete(owner Owner, id ID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, err := s.getRec(id)
	if err != nil {
		return err
	}
	if _, ok := rec.Owners[owner.String()]; !ok {
		return fmt.Errorf("%w: %s did not store %s", ErrNotOwner, owner, id)
	}
	delete(rec.Owners, owner.String())
	return s.unrefLocked(id, rec, []Owner{owner})
}

// unrefLocked writes rec after the owners in gone lost their reference,
// removing the shard if none is left. The index entry goes before the file:
// a crash in between leaves an unindexed file that reconcile removes.
func (s *Store) unrefLocked(id ID, rec *indexRec, gone []Owner) error {
	last := len(rec.Owners) == 0
	var v []byte
	if !last {
		var err error
		if v, err = json.Marshal(rec); err != nil {
			return err
		}
	}
	err := s.kv.Batch(func(b *store.Batch) error {
		if last {
			b.Delete(indexKey(id))
		} else {
			b.Put(indexKey(id), v)
		}
		for _, o := range gone {
			b.Delete(byOwnerKey(o, id))
			if e := s.owners[o]; e != nil && e.Shards == 1 {
				b.Delete(ownerKey(o))
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("shard: index: %w", err)
	}
	for _, o := range gone {
		if e := s.owners[o]; e != nil {
			e.Shards--
			e.Bytes -= rec.Size
			if e.Shards <= 0 {
				delete(s.owners, o)
			}
		}
	}
	if last {
		s.used -= rec.Size
		if err := os.Remove(s.path(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("removing deleted shard file", "shard", id, "err", err)
		}
	}
	return nil
}

// dropCorrupt forgets a shard whose bytes on disk no longer match its ID:
// keeping it would only fail every read and hold quota, while dropping it
// lets the owners' audits see it missing and repair it elsewhere.
func (s *Store) dropCorrupt(id ID, why string) {
	s.log.Error("shard corrupt on disk, dropping it", "shard", id, "why", why)
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, err := s.getRec(id)
	if err != nil {
		return
	}
	var gone []Owner
	for o := range rec.Owners {
		var p Owner
		if p.UnmarshalText([]byte(o)) == nil {
			gone = append(gone, p)
		}
	}
	clear(rec.Owners)
	if err := s.unrefLocked(id, rec, gone); err != nil {
		s.log.Error("dropping corrupt shard", "shard", id, "err", err)
	}
}

// Open returns a reader of the shard and its size. The reader verifies the
// bytes against id as they are read: with the last byte it returns
// ErrCorrupt if the disk returned something else (the shard is then dropped
// from the store), and io.EOF after it otherwise. The check is only as good
// as the caller's reading: stop early and nothing is verified.
func (s *Store) Open(id ID) (io.ReadCloser, int64, error) {
	rec, err := s.getRec(id)
	if err != nil {
		return nil, 0, err
	}
	f, err := os.Open(s.path(id))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if ok, _ := s.Has(id); !ok {
				return nil, 0, ErrNotFound // deleted meanwhile
			}
			s.dropCorrupt(id, "file missing")
			return nil, 0, fmt.Errorf("%w: %s: file missing", ErrCorrupt, id)
		}
		return nil, 0, fmt.Errorf("shard: open %s: %w", id, err)
	}
	if st, err := f.Stat(); err != nil || st.Size() != rec.Size {
		f.Close()
		s.dropCorrupt(id, "size changed")
		return nil, 0, fmt.Errorf("%w: %s: size on disk differs from index", ErrCorrupt, id)
	}
	// Past the page cache when the disk allows it: a shard is read
	// rarely, and caching it costs a copy of every byte and a page for
	// each 4 KiB (on a VM, memory the host may have to fault in first).
	v := &verifyReader{s: s, id: id, f: f, h: blake3.New(), left: rec.Size}
	v.direct = directio.SetDirect(f, true) == nil
	if !v.direct {
		directio.Prefetch(f)
	}
	return v, rec.Size, nil
}

// Get returns the shard's bytes, verified against id.
func (s *Store) Get(id ID) ([]byte, error) { return s.GetInto(id, nil) }

// sized returns dst resliced to n bytes, or a new slice if dst's capacity
// is too small.
func sized(dst []byte, n int64) []byte {
	if int64(cap(dst)) < n {
		return make([]byte, n)
	}
	return dst[:n]
}

// GetInto is Get reading into dst's capacity when it is big enough (the
// result then aliases dst).
func (s *Store) GetInto(id ID, dst []byte) ([]byte, error) {
	rc, size, err := s.Open(id)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	buf := sized(dst, size)
	if _, err := io.ReadFull(rc, buf); err != nil {
		return nil, err
	}
	// ReadFull drops an error that comes with the last bytes; the verdict
	// is sticky, so ask again.
	if _, err := rc.Read(make([]byte, 1)); err != io.EOF {
		return nil, err
	}
	return buf, nil
}

type verifyReader struct {
	s      *Store
	id     ID
	f      *os.File
	h      *blake3.Hasher
	left   int64
	err    error
	direct bool // O_DIRECT on: reads must be aligned (see readAt)
}

// read reads into p, with O_DIRECT while p allows it: an aligned buffer
// whose length is whole blocks, or the rest of the shard rounded up to a
// block within p's capacity (the file ends there, so the read is short).
// Anything else, such as a caller's odd buffer, is read through the cache.
func (v *verifyReader) read(p []byte) (int, error) {
	if v.direct {
		q := p
		if int64(len(q)) >= v.left {
			q = p[:min(int64(cap(p)), (v.left+directio.Align-1)/directio.Align*directio.Align)]
		}
		if directio.Aligned(q) {
			n, err := v.f.Read(q)
			if err == nil || !errors.Is(err, syscall.EINVAL) {
				return min(n, len(p)), err
			}
		}
		v.direct = false
		if err := directio.SetDirect(v.f, false); err != nil {
			return 0, err
		}
		directio.Prefetch(v.f)
	}
	return v.f.Read(p)
}

func (v *verifyReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	if v.left == 0 {
		v.err = io.EOF
		return 0, v.err
	}
	if int64(len(p)) > v.left {
		p = p[:v.left]
	}
	n, err := v.read(p)
	v.h.Write(p[:n])
	v.left -= int64(n)
	switch {
	case v.left == 0:
		// The verdict comes with the last bytes, before the caller can
		// pass them on: a holder has dropped a corrupt shard by the time
		// its client has received it.
		if ID(v.h.Sum(nil)) != v.id {
			v.err = v.corrupt("hash mismatch")
			return n, v.err
		}
	case err == io.EOF:
		v.err = v.corrupt("file shorter than index")
		return n, v.err
	case err != nil:
		return n, fmt.Errorf("shard: read %s: %w", v.id, err)
	}
	return n, nil
}

func (v *verifyReader) corrupt(why string) error {
	v.s.dropCorrupt(v.id, why)
	return fmt.Errorf("%w: %s: %s", ErrCorrupt, v.id, why)
}

func (v *verifyReader) Close() error { return v.f.Close() }

// Each calls fn for every shard in the store (for reproviding and audits).
func (s *Store) Each(fn func(id ID, size int64) error) error {
	return s.kv.Scan(keyIndex, func(k, v []byte) error {
		var id ID
		copy(id[:], k[len(keyIndex):])
		var rec indexRec
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("shard: index entry %s: %w", id, err)
		}
		return fn(id, rec.Size)
	})
}

// Hosted returns "Hosted for others": per owner, how many shards and bytes
// this box keeps and since when, largest first.
func (s *Store) Hosted() []HostedEntry {
	s.mu.Lock()
	out := make([]HostedEntry, 0, len(s.owners))
	for _, e := range s.owners {
		c := *e
		c.Boxes = nil
		for b := range e.rec.Boxes {
			if p, err := peer.Decode(b); err == nil {
				c.Boxes = append(c.Boxes, p)
			}
		}
		slices.Sort(c.Boxes)
		if !e.rec.Orphaned.IsZero() {
			c.EvictAt = e.rec.Orphaned.Add(s.grace)
		}
		out = append(out, c)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b HostedEntry) int {
		if a.Bytes != b.Bytes {
			if a.Bytes > b.Bytes {
				return -1
			}
			return 1
		}
		return bytes.Compare(a.Owner[:], b.Owner[:])
	})
	return out
}

// Usage returns the bytes of stored shards and the quota.
func (s *Store) Usage() (used, quota int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.used, s.quota
}

// SetQuota changes the quota. Lowering it below the bytes in use evicts
// nothing: shards already accepted stay until their owners delete them, but
// new puts are refused.
func (s *Store) SetQuota(q int64) {
	s.mu.Lock()
	s.quota = q
	s.mu.Unlock()
}

func diskErr(op string, err error) error {
	if errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("%w: %s: %w", ErrDiskFull, op, err)
	}
	return fmt.Errorf("shard: %s: %w", op, err)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// chunkSize is the unit a holder receives and writes a shard in: a multiple
// of any disk's block size, so every write but a shard's last can bypass the
// page cache.
const chunkSize = 1 << 20

// chunkPool holds chunkSize buffers aligned for direct I/O; at most one per
// put in flight, which the server bounds.
var chunkPool = sync.Pool{New: func() any {
	b := directio.Buffer(chunkSize)
	return &b
}}

// directWriter writes a shard's file with O_DIRECT while it can: the last,
// partial block goes through the page cache, as does everything on a file
// system that refuses direct I/O (tmpfs).
type directWriter struct {
	f      *os.File
	direct bool
}

func (w *directWriter) write(p []byte) error {
	if w.direct && len(p)%directio.Align != 0 {
		w.direct = false
		if err := directio.SetDirect(w.f, false); err != nil {
			return err
		}
	}
	_, err := w.f.Write(p)
	if err != nil && w.direct && errors.Is(err, syscall.EINVAL) {
		// Direct I/O refused after all: nothing was written, try again
		// through the cache.
		w.direct = false
		if err := directio.SetDirect(w.f, false); err != nil {
			return err
		}
		_, err = w.f.Write(p)
	}
	return err
}

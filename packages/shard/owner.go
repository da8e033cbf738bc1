package shard

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"oepc.dev/oepcos/packages/store"
)

// DefaultGrace is how long the shards of an owner none of whose boxes is a
// friend any more (removed or blocked) are kept before Sweep evicts them:
// long enough to make friends again after a mistake or a new box.
const DefaultGrace = 30 * 24 * time.Hour

var errStop = errors.New("stop")

// upgrade brings the index to storeVersion (see there).
func (s *Store) upgrade() error {
	v, err := s.kv.Get(keyVersion)
	switch {
	case err == nil && string(v) == storeVersion:
		return nil
	case err == nil:
		return fmt.Errorf("index format %q is not %q (written by a newer box?)", v, storeVersion)
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	var old [][]byte
	for _, p := range [][]byte{keyIndex, keyOwner} {
		if err := s.kv.Scan(p, func(k, _ []byte) error { old = append(old, slices.Clone(k)); return nil }); err != nil {
			return err
		}
	}
	if len(old) > 0 {
		s.log.Warn("dropping a shard index of format 1 (shards kept by box, not by owner key); the owners' repair puts them back", "keys", len(old))
	}
	for chunk := range slices.Chunk(old, 512) {
		if err := s.kv.Batch(func(b *store.Batch) error {
			for _, k := range chunk {
				b.Delete(k)
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return s.kv.Put(keyVersion, []byte(storeVersion))
}

// reconcileByOwner drops list entries whose shard or reference is gone (a
// crash between the index write and the list write cannot happen, they are
// one batch; this covers reconcile's own drops).
func (s *Store) reconcileByOwner() error {
	var drop [][]byte
	err := s.kv.Scan(keyByOwner, func(k, _ []byte) error {
		if len(k) != len(keyByOwner)+64 {
			drop = append(drop, slices.Clone(k))
			return nil
		}
		o := Owner(k[len(keyByOwner):])
		id := ID(k[len(keyByOwner)+32:])
		rec, err := s.getRec(id)
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				drop = append(drop, slices.Clone(k))
				return nil
			}
			return err
		}
		if _, ok := rec.Owners[o.String()]; !ok {
			drop = append(drop, slices.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for chunk := range slices.Chunk(drop, 512) {
		if err := s.kv.Batch(func(b *store.Batch) error {
			for _, k := range chunk {
				b.Delete(k)
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// Touch records that box acted for owner with a valid signature (so it is
// the owner's and a friend): it is remembered for eviction, and the
// eviction clock stops. A no-op for an owner without shards here.
func (s *Store) Touch(owner Owner, box peer.ID) {
	if box == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.owners[owner]
	if e == nil {
		return
	}
	now := time.Now().UTC()
	last, known := e.rec.Boxes[box.String()]
	// One KV write per box and hour, not per shard.
	if known && now.Sub(last) < time.Hour && e.rec.Orphaned.IsZero() {
		return
	}
	if e.rec.Boxes == nil {
		e.rec.Boxes = map[string]time.Time{}
	}
	e.rec.Boxes[box.String()] = now
	for len(e.rec.Boxes) > maxBoxes {
		var oldest string
		for b, t := range e.rec.Boxes {
			if oldest == "" || t.Before(e.rec.Boxes[oldest]) {
				oldest = b
			}
		}
		delete(e.rec.Boxes, oldest)
	}
	e.rec.Orphaned = time.Time{}
	s.saveOwnerLocked(owner, e)
}

func (s *Store) saveOwnerLocked(o Owner, e *HostedEntry) {
	e.rec.Since = e.Since
	if err := store.PutJSON(s.kv, ownerKey(o), e.rec); err != nil {
		s.log.Warn("saving owner record", "owner", o, "err", err)
	}
}

// SetGrace changes how long an ex-friend's shards are kept (DefaultGrace).
func (s *Store) SetGrace(d time.Duration) {
	s.mu.Lock()
	s.grace = d
	s.mu.Unlock()
}

// OwnsShard reports whether owner holds a reference to the shard.
func (s *Store) OwnsShard(owner Owner, id ID) (bool, error) {
	rec, err := s.getRec(id)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	_, ok := rec.Owners[owner.String()]
	return ok, nil
}

// List returns up to limit of owner's shards with IDs from from on, in ID
// order, each with the time since it was stored.
func (s *Store) List(owner Owner, from ID, limit int) ([]Listed, error) {
	now := time.Now()
	var out []Listed
	start := byOwnerKey(owner, from)
	// One scan per first ID byte from from's on: the KV scans by prefix
	// only, and this keeps a page from walking every shard before from.
	for first := int(from[0]); first < 256 && len(out) < limit; first++ {
		err := s.kv.Scan(append(byOwnerPrefix(owner), byte(first)), func(k, v []byte) error {
			if bytes.Compare(k, start) < 0 {
				return nil
			}
			if len(out) >= limit {
				return errStop
			}
			l := Listed{ID: ID(k[len(keyByOwner)+32:])}
			if len(v) == 8 {
				l.Age = max(0, now.Sub(time.Unix(0, int64(binary.BigEndian.Uint64(v)))).Truncate(time.Second))
			}
			out = append(out, l)
			return nil
		})
		if err != nil && !errors.Is(err, errStop) {
			return nil, fmt.Errorf("shard: list: %w", err)
		}
	}
	return out, nil
}

// Sweep starts the eviction clock of owners none of whose boxes is
// allowed (a removed or blocked friend), stops it for those one of whose
// boxes is allowed again, and evicts the shards of owners whose clock has
// run the grace period at now. Owners with no box recorded (the box's own
// store) are left alone. It returns the owners evicted.
func (s *Store) Sweep(allowed func(peer.ID) bool, now time.Time) ([]Owner, error) {
	var evict []Owner
	s.mu.Lock()
	for o, e := range s.owners {
		if len(e.rec.Boxes) == 0 {
			continue
		}
		friend := false
		for b := range e.rec.Boxes {
			if p, err := peer.Decode(b); err == nil && allowed(p) {
				friend = true
				break
			}
		}
		switch {
		case friend && !e.rec.Orphaned.IsZero():
			e.rec.Orphaned = time.Time{}
			s.saveOwnerLocked(o, e)
		case friend:
		case e.rec.Orphaned.IsZero():
			e.rec.Orphaned = now.UTC()
			s.saveOwnerLocked(o, e)
			s.log.Info("no box of this owner is a friend any more; evicting its shards after the grace period",
				"owner", o, "evict_at", now.Add(s.grace))
		case !now.Before(e.rec.Orphaned.Add(s.grace)):
			evict = append(evict, o)
		}
	}
	s.mu.Unlock()
	for _, o := range evict {
		n := 0
		for {
			ls, err := s.List(o, ID{}, MaxListBatch)
			if err != nil {
				return nil, err
			}
			for _, l := range ls {
				if err := s.Delete(o, l.ID); err != nil && !errors.Is(err, ErrNotFound) {
					return nil, err
				}
				n++
			}
			if len(ls) < MaxListBatch {
				break
			}
		}
		s.log.Info("evicted the shards of an ex-friend", "owner", o, "shards", n)
	}
	return evict, nil
}

package cloud

// Shards that must go: the deletion queue and the reconcile.
//
// A shard a delete could not reach (its holder was offline during rm, a
// failed put's clean-up, a put cut off by a crash) is queued under
// prefixUndeleted and retried, with backoff, whenever its holder is
// online, until the holder confirms (a shard it does not have counts) or
// the record is maxUndeletedAge old. The reconcile catches what the queue
// cannot: it asks each online holder for the shards it keeps for the
// owner key and deletes those no manifest, backup or pending put
// references, and that were stored at least ReconcileMinAge ago.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"oepc.dev/oepcos/packages/cloud/codec"
	"oepc.dev/oepcos/packages/cloud/index"
	"oepc.dev/oepcos/packages/store"
)

const (
	prefixUndeleted = "cloud/undeleted/" // + random hex → undeleted
	// maxUndeletedRefs splits the queue into records of bounded size
	// (about 130 KB, under store.MaxBatchBytes);
	// maxUndeleted bounds the records (beyond, the reconcile is left to
	// find the shards).
	maxUndeletedRefs = 1024
	maxUndeleted     = 10000
	// maxUndeletedAge: a holder gone this long is not coming back (and
	// if it does, the reconcile deletes what it kept).
	maxUndeletedAge  = 30 * 24 * time.Hour
	deleteRetryFirst = 2 * time.Second
	deleteRetryMax   = time.Minute
)

// undeleted is a queue record: shards whose holders have not yet
// confirmed their deletion.
type undeleted struct {
	Refs  []index.ShardRef `json:"refs"`
	Since time.Time        `json:"since"`
	Tries int              `json:"tries"`
}

// deleteShards removes shards from their holders and returns those whose
// holder did not confirm (a holder without the shard confirms).
func (s *Service) deleteShards(ctx context.Context, refs []index.ShardRef) []index.ShardRef {
	sem := make(chan struct{}, 8)
	var mu sync.Mutex
	var failed []index.ShardRef
	var wg sync.WaitGroup
	for _, r := range refs {
		if r.Holder == "" {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if err := s.cfg.Holders.Delete(cctx, r.Holder, r.ID); err != nil {
				s.log.Debug("shard delete failed", "peer", r.Holder, "shard", r.ID, "err", err)
				mu.Lock()
				failed = append(failed, r)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return failed
}

// forget deletes shards from their holders and queues those not confirmed.
func (s *Service) forget(ctx context.Context, refs []index.ShardRef) {
	if failed := s.deleteShards(ctx, refs); len(failed) > 0 {
		s.queueDeletes(failed)
	}
}

// queueDeletes records refs for the deletion loop.
func (s *Service) queueDeletes(refs []index.ShardRef) {
	if s.undeletedN.Load() >= maxUndeleted {
		s.log.Warn("deletion queue full; the reconcile will find these shards", "shards", len(refs))
		return
	}
	if err := s.queueRecords(refs); err != nil {
		s.log.Warn("queueing shard deletes", "err", err)
		return
	}
	s.log.Info("some holders did not confirm deletes; retrying when they are online", "shards", len(refs))
	select {
	case s.deleteKick <- struct{}{}:
	default:
	}
}

// queueRecords writes refs as deletion-queue records of bounded size.
func (s *Service) queueRecords(refs []index.ShardRef) error {
	for chunk := range slices.Chunk(refs, maxUndeletedRefs) {
		if err := store.PutJSON(s.cfg.KV, undeletedKey(), undeleted{Refs: chunk, Since: s.cfg.Clock().UTC()}); err != nil {
			return err
		}
		s.undeletedN.Add(1)
	}
	return nil
}

func undeletedKey() []byte {
	return fmt.Appendf(nil, "%s%016x%016x", prefixUndeleted, rand.Uint64(), rand.Uint64())
}

// cleanupPending turns the journal records of puts cut off by a crash into
// deletion-queue records: a record is never dropped before its shards are
// queued. A segment whose holders were not yet
// recorded is queued for every box that may hold it (self and all friends).
func (s *Service) cleanupPending(ctx context.Context) {
	type job struct {
		key []byte
		p   pendingPut
	}
	var jobs []job
	s.cfg.KV.Scan([]byte(prefixPending), func(k, v []byte) error {
		var p pendingPut
		if json.Unmarshal(v, &p) == nil {
			jobs = append(jobs, job{key: slices.Clone(k), p: p})
		}
		return nil
	})
	for _, j := range jobs {
		// A crash between a put's commit and the end of its journal.
		if f, err := pendingFile(j.key); err == nil {
			if s.ix.HasManifest(f) {
				s.log.Info("dropping the journal of a committed put", "key", string(j.key))
				s.cfg.KV.Delete(j.key)
				continue
			}
		}
		var refs []index.ShardRef
		for _, seg := range j.p.Segments {
			for _, r := range seg {
				if r.Holder != "" {
					refs = append(refs, r)
					continue
				}
				for _, p := range s.everyBox() {
					refs = append(refs, index.ShardRef{ID: r.ID, Holder: p})
				}
			}
		}
		s.log.Info("removing shards of an interrupted put", "key", string(j.key), "shards", len(refs))
		// Queue first, then drop the journal record: a crash in between
		// only queues the deletes twice.
		if err := s.queueRecords(refs); err != nil {
			s.log.Warn("queueing the shards of an interrupted put", "key", string(j.key), "err", err)
			continue
		}
		if err := s.cfg.KV.Delete(j.key); err != nil {
			s.log.Warn("dropping the journal of an interrupted put", "key", string(j.key), "err", err)
		}
	}
	if len(jobs) > 0 {
		s.retryDeletes(ctx)
	}
}

// everyBox is every box that may hold a shard: those online and every
// friend (Config.Friends).
func (s *Service) everyBox() []peer.ID {
	out := s.peers()
	if s.cfg.Friends != nil {
		for _, p := range s.cfg.Friends() {
			if p != "" && !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}

// retryDeletes makes one pass over the deletion queue, trying the holders
// that are online, and reports whether anything is left.
func (s *Service) retryDeletes(ctx context.Context) bool {
	type rec struct {
		key []byte
		u   undeleted
	}
	var recs []rec
	n := 0
	s.cfg.KV.Scan([]byte(prefixUndeleted), func(k, v []byte) error {
		n++
		var u undeleted
		if json.Unmarshal(v, &u) == nil {
			recs = append(recs, rec{slices.Clone(k), u})
		} else {
			recs = append(recs, rec{key: slices.Clone(k)}) // unreadable: dropped below
		}
		return nil
	})
	s.undeletedN.Store(int64(n))
	online := map[peer.ID]bool{}
	for _, p := range s.peers() {
		online[p] = true
	}
	left := false
	for _, r := range recs {
		if ctx.Err() != nil {
			return true
		}
		var try, wait []index.ShardRef
		for _, ref := range r.u.Refs {
			if online[ref.Holder] {
				try = append(try, ref)
			} else {
				wait = append(wait, ref)
			}
		}
		failed := s.deleteShards(ctx, try)
		keep := append(wait, failed...)
		var err error
		switch {
		case len(keep) == 0:
			err = s.cfg.KV.Delete(r.key)
		case s.cfg.Clock().Sub(r.u.Since) > maxUndeletedAge:
			s.log.Warn("giving up on deleting shards from holders gone for a long time; the reconcile deletes them if they come back",
				"shards", len(keep), "since", r.u.Since)
			err = s.cfg.KV.Delete(r.key)
		case len(try) > 0:
			r.u.Refs, r.u.Tries = keep, r.u.Tries+1
			err = store.PutJSON(s.cfg.KV, r.key, r.u)
			left = true
		default:
			left = true
		}
		if err != nil {
			s.log.Warn("updating the deletion queue", "err", err)
			left = true
		}
	}
	return left
}

// deleteLoop retries the deletion queue while it is not empty, with
// exponential backoff and jitter (so holders coming online are reached
// within deleteRetryMax), and sleeps while it is empty until something is
// queued.
func (s *Service) deleteLoop(ctx context.Context) {
	wait := deleteRetryFirst
	for {
		var timer <-chan time.Time
		if s.retryDeletes(ctx) {
			t := time.NewTimer(wait/2 + rand.N(wait/2+1))
			defer t.Stop()
			timer = t.C
			wait = min(2*wait, deleteRetryMax)
		} else {
			wait = deleteRetryFirst
		}
		select {
		case <-ctx.Done():
			return
		case <-timer:
		case <-s.deleteKick:
		}
	}
}

// referenced returns every shard the index, the index backup and the puts
// under way refer to: (holder, ID) pairs, and IDs of any holder (the
// pending journal's, whose holders may not be recorded).
func (s *Service) referenced() (map[index.ShardRef]bool, map[codec.ShardID]bool, error) {
	refs := map[index.ShardRef]bool{}
	anyHolder := map[codec.ShardID]bool{}
	add := func(m *index.Manifest) {
		for _, r := range allRefs(m) {
			refs[r] = true
		}
	}
	err := s.ix.Manifests(func(m *index.Manifest, err error) error {
		if err != nil {
			return fmt.Errorf("cloud: reconcile: a manifest does not decode: %w", err)
		}
		add(m)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	var st backupState
	if err := store.GetJSON(s.cfg.KV, keyBackup, &st); err == nil && st.Manifest != nil {
		add(st.Manifest)
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, nil, err
	}
	err = s.cfg.KV.Scan([]byte(prefixPending), func(_, v []byte) error {
		var p pendingPut
		if json.Unmarshal(v, &p) != nil {
			return nil
		}
		for _, seg := range p.Segments {
			for _, r := range seg {
				anyHolder[r.ID] = true
			}
		}
		return nil
	})
	return refs, anyHolder, err
}

// ReconcileReport says what a reconcile found.
type ReconcileReport struct {
	Holders int `json:"holders"` // asked
	Kept    int `json:"kept"`    // shards referenced (or too recent)
	Deleted int `json:"deleted"` // unreferenced shards deleted
	Failed  int `json:"failed"`  // holders that could not be listed or deletes that failed
}

// maxReconcileShards bounds the shards one reconcile looks at per holder.
const maxReconcileShards = 1 << 20

// Reconcile deletes from every online holder the shards it keeps for the
// owner key that nothing references. Each holder is listed before the
// references are read, so a shard a put places meanwhile is already in its
// pending journal (written before its shards go out) or in the manifest it
// committed; a repair or backup between placing and recording its shards
// is covered by ReconcileMinAge. It assumes one live index per owner key:
// two boxes running the same phrase side by side with different files
// would delete each other's shards (a recovered box replaces the old one).
func (s *Service) Reconcile(ctx context.Context) (ReconcileReport, error) {
	var rep ReconcileReport
	lister, ok := s.cfg.Holders.(shardLister)
	if !ok {
		return rep, nil
	}
	if _, err := s.Owner(); err != nil {
		return rep, err
	}
	type held struct {
		p  peer.ID
		ls []HeldShard
	}
	var all []held
	for _, p := range s.peers() {
		var ls []HeldShard
		from := codec.ShardID{}
		for len(ls) < maxReconcileShards {
			cctx, cancel := s.call(ctx)
			page, err := lister.List(cctx, p, from, 1024)
			cancel()
			if err != nil {
				s.log.Info("reconcile: holder not listed", "peer", p, "err", err)
				rep.Failed++
				ls = nil
				break
			}
			ls = append(ls, page...)
			if len(page) < 1024 {
				break
			}
			var more bool
			if from, more = nextShardID(page[len(page)-1].ID); !more {
				break
			}
		}
		if ls != nil {
			all = append(all, held{p, ls})
		}
		rep.Holders++
	}
	refs, anyHolder, err := s.referenced()
	if err != nil {
		return rep, err
	}
	minAge := max(s.cfg.ReconcileMinAge, 0)
	for _, h := range all {
		var del []index.ShardRef
		for _, l := range h.ls {
			r := index.ShardRef{ID: l.ID, Holder: h.p}
			if refs[r] || anyHolder[l.ID] || l.Age < minAge {
				rep.Kept++
				continue
			}
			del = append(del, r)
		}
		if len(del) == 0 {
			continue
		}
		s.log.Info("reconcile: deleting shards no file refers to", "peer", h.p, "shards", len(del))
		failed := s.deleteShards(ctx, del)
		rep.Deleted += len(del) - len(failed)
		rep.Failed += len(failed)
	}
	return rep, nil
}

func nextShardID(id codec.ShardID) (codec.ShardID, bool) {
	for i := len(id) - 1; i >= 0; i-- {
		if id[i]++; id[i] != 0 {
			return id, true
		}
	}
	return id, false
}

// reconcileLoop runs Reconcile every ReconcileInterval.
func (s *Service) reconcileLoop(ctx context.Context) {
	every(ctx, s.cfg.ReconcileInterval, nil, func() {
		if s.owner.Load() == nil {
			return
		}
		rep, err := s.Reconcile(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("reconcile failed", "err", err)
		} else if rep.Deleted > 0 {
			s.log.Info("reconcile", "holders", rep.Holders, "deleted", rep.Deleted, "failed", rep.Failed)
		}
	})
}

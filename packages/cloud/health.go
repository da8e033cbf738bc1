package cloud

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"oepc.dev/oepcos/packages/cloud/codec"
)

// Shard states in a health report.
const (
	StateOK          = "ok"
	StateMissing     = "missing"     // the holder answered and does not have it
	StateUnreachable = "unreachable" // the holder did not answer
	StateCorrupt     = "corrupt"     // a get found bytes that do not match the ID
	StateRepairing   = "repairing"
	StateUnplaced    = "unplaced"
)

// Health is the state of every shard of a file.
type Health struct {
	File     codec.FileID    `json:"id"`
	Path     string          `json:"path,omitempty"`
	Size     int64           `json:"size"`
	K        int             `json:"k"`
	M        int             `json:"m"`
	Segments []SegmentHealth `json:"segments"`
	// MinHealthy is the fewest healthy shards of any segment.
	MinHealthy int `json:"min_healthy"`
	// Readable: every segment has at least k healthy shards.
	Readable bool `json:"readable"`
	// Complete: every segment has all k+m shards healthy.
	Complete bool `json:"complete"`
}

// SegmentHealth is the state of one segment's shards.
type SegmentHealth struct {
	Index   int           `json:"index"`
	Healthy int           `json:"healthy"`
	Shards  []ShardHealth `json:"shards"`
}

// ShardHealth is one shard on its holder.
type ShardHealth struct {
	Index  int           `json:"index"`
	ID     codec.ShardID `json:"id"`
	Holder peer.ID       `json:"holder,omitempty"`
	State  string        `json:"state"`
}

// Health checks every shard of the file named by path or ID on its
// holder (one Has call per holder).
func (s *Service) Health(ctx context.Context, ref string) (*Health, error) {
	man, err := s.Manifest(ref)
	if err != nil {
		return nil, err
	}
	h := s.check(ctx, man)
	if len(ref) > 0 && ref[0] == '/' {
		h.Path, _ = CleanPath(ref)
	}
	return h, nil
}

// Verify is Health after reading every shard back from its holder and
// checking it against its ID (a deep check: it moves the whole file
// k+m/k times). Corrupt shards are marked and the repair loop woken.
func (s *Service) Verify(ctx context.Context, ref string) (*Health, error) {
	man, err := s.Manifest(ref)
	if err != nil {
		return nil, err
	}
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i, sg := range man.Segments {
		size := man.ShardSize(i)
		for _, r := range sg.Shards {
			if r.Holder == "" {
				continue
			}
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				cctx, cancel := s.call(ctx)
				defer cancel()
				data, err := s.cfg.Holders.Get(cctx, r.Holder, r.ID, nil)
				if errors.Is(err, codec.ErrBadShard) || (err == nil && len(data) != size) { // Get checked the hash
					s.log.Warn("verify: corrupt shard", "peer", r.Holder, "shard", r.ID, "file", man.File)
					s.markCorrupt(r.ID, r.Holder)
				}
			})
		}
	}
	wg.Wait()
	return s.Health(ctx, ref)
}

func (s *Service) check(ctx context.Context, man *Manifest) *Health {
	byHolder := map[peer.ID][]codec.ShardID{}
	for _, sg := range man.Segments {
		for _, r := range sg.Shards {
			if r.Holder != "" {
				byHolder[r.Holder] = append(byHolder[r.Holder], r.ID)
			}
		}
	}
	type key struct {
		p  peer.ID
		id codec.ShardID
	}
	var mu sync.Mutex
	present := map[key]bool{}
	reached := map[peer.ID]bool{}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for p, ids := range byHolder {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			cctx, cancel := context.WithTimeout(ctx, min(s.cfg.CallTimeout, 30*time.Second))
			defer cancel()
			has, err := s.cfg.Holders.Has(cctx, p, ids)
			if err != nil || len(has) != len(ids) {
				s.log.Debug("health: holder unreachable", "peer", p, "err", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			reached[p] = true
			for i, id := range ids {
				if has[i] {
					present[key{p, id}] = true
				}
			}
		})
	}
	wg.Wait()
	h := &Health{File: man.File, Size: man.Size, K: man.K, M: man.M, MinHealthy: man.K + man.M, Readable: true, Complete: true}
	s.hmu.Lock()
	defer s.hmu.Unlock()
	for i, sg := range man.Segments {
		sh := SegmentHealth{Index: i}
		for j, r := range sg.Shards {
			st := StateOK
			switch {
			case r.Holder == "":
				st = StateUnplaced
			case s.repairing[r.ID]:
				st = StateRepairing
			case s.corrupt[r.ID] == r.Holder:
				st = StateCorrupt
			case !reached[r.Holder]:
				st = StateUnreachable
			case !present[key{r.Holder, r.ID}]:
				st = StateMissing
			}
			if st == StateOK {
				sh.Healthy++
			}
			sh.Shards = append(sh.Shards, ShardHealth{Index: j, ID: r.ID, Holder: r.Holder, State: st})
		}
		h.MinHealthy = min(h.MinHealthy, sh.Healthy)
		h.Readable = h.Readable && sh.Healthy >= man.K
		h.Complete = h.Complete && sh.Healthy == man.K+man.M
		h.Segments = append(h.Segments, sh)
	}
	return h
}

func (s *Service) threshold(man *Manifest) int {
	if t := s.cfg.RepairThreshold; t > 0 {
		return min(t, man.K+man.M)
	}
	return man.K + man.M
}

func (s *Service) repairLoop(ctx context.Context) {
	if s.cfg.RepairInterval < 0 {
		return
	}
	t := time.NewTicker(s.cfg.RepairInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.kick:
		}
		if _, err := s.RepairAll(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("repair pass failed", "err", err)
		}
	}
}

// RepairReport says what a repair pass did.
type RepairReport struct {
	Files    int `json:"files"`
	Repaired int `json:"repaired_shards"`
	Failed   int `json:"failed_shards"`
}

// RepairAll checks every file once and repairs the segments below the
// threshold.
func (s *Service) RepairAll(ctx context.Context) (RepairReport, error) {
	var rep RepairReport
	files, err := s.Files()
	if err != nil {
		return rep, err
	}
	for _, e := range files {
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		n, f, err := s.RepairFile(ctx, e.File)
		rep.Files++
		rep.Repaired += n
		rep.Failed += f
		if err != nil {
			s.log.Warn("repair failed", "path", e.Path, "err", err)
		}
	}
	return rep, nil
}

// RepairFile rebuilds the unhealthy shards of the file's segments that
// are below the threshold and places them on other boxes. It returns how
// many shards it repaired and how many it could not.
func (s *Service) RepairFile(ctx context.Context, f codec.FileID) (repaired, failed int, err error) {
	man, err := s.loadManifest(f)
	if err != nil {
		return 0, 0, err
	}
	h := s.check(ctx, man)
	thr := s.threshold(man)
	coder, err := codec.NewCoder(man.K, man.M)
	if err != nil {
		return 0, 0, err
	}
	type change struct {
		seg, shard int
		old, new   ShardRef
	}
	var changes []change
	var bad []ShardRef // corrupt copies to delete
	for i, sh := range h.Segments {
		if sh.Healthy >= thr {
			continue
		}
		var sick []int
		for _, x := range sh.Shards {
			if x.State != StateOK {
				sick = append(sick, x.Index)
			}
		}
		s.setRepairing(man.Segments[i].Shards, sick, true)
		shards, err := s.fetchShards(ctx, s.cfg.Holders, man, i, man.K, func(j int) bool { return slices.Contains(sick, j) }, nil)
		if err == nil {
			err = coder.Reconstruct(shards, false)
		}
		if err != nil {
			s.setRepairing(man.Segments[i].Shards, sick, false)
			failed += len(sick)
			s.log.Warn("repair: segment unreadable", "file", f, "segment", i, "err", err)
			continue
		}
		// New holders: boxes not holding a healthy shard of this segment
		// and not the failed holders.
		refs := slices.Clone(man.Segments[i].Shards)
		pl := &placer{bad: map[peer.ID]bool{}}
		var used []peer.ID
		for _, x := range sh.Shards {
			if x.State == StateOK {
				used = append(used, x.Holder)
			} else if x.Holder != "" {
				pl.bad[x.Holder] = true
			}
		}
		for _, p := range s.peers() {
			if !slices.Contains(used, p) {
				pl.cands = append(pl.cands, p)
			}
		}
		ids := make([]codec.ShardID, len(refs))
		todo := make([][]byte, len(refs))
		for j := range refs {
			ids[j] = refs[j].ID
			todo[j] = shards[j]
			if slices.Contains(sick, j) {
				if codec.SumShard(shards[j]) != refs[j].ID {
					err = fmt.Errorf("repair: rebuilt shard %d of segment %d does not match its ID", j, i)
				}
				if sh.Shards[j].State == StateCorrupt {
					bad = append(bad, refs[j])
				}
				refs[j].Holder = ""
			}
		}
		if err == nil {
			err = s.placeSegment(ctx, pl, i, todo, ids, refs, nil)
		}
		for _, j := range sick {
			if refs[j].Holder != "" {
				changes = append(changes, change{i, j, man.Segments[i].Shards[j], refs[j]})
				repaired++
			} else {
				failed++
			}
		}
		s.setRepairing(man.Segments[i].Shards, sick, false)
		if err != nil {
			s.log.Warn("repair: could not place every shard", "file", f, "segment", i, "err", err)
		}
	}
	if len(changes) == 0 {
		return 0, failed, nil
	}
	// Commit against the current manifest: the file may have been removed
	// or replaced meanwhile.
	s.mu.Lock()
	cur, lerr := s.loadManifest(f)
	if lerr == nil {
		cur = cur.clone()
		for _, c := range changes {
			if cur.Segments[c.seg].Shards[c.shard] == c.old {
				cur.Segments[c.seg].Shards[c.shard] = c.new
			}
		}
		var b []byte
		if b, lerr = MarshalManifest(cur); lerr == nil {
			lerr = s.cfg.KV.Put(manKey(f), b)
		}
	}
	s.mu.Unlock()
	if lerr != nil {
		var placed []ShardRef
		for _, c := range changes {
			placed = append(placed, c.new)
		}
		s.deleteShards(context.WithoutCancel(ctx), placed)
		if errors.Is(lerr, ErrNotFound) {
			return 0, 0, nil
		}
		return 0, failed + len(changes), lerr
	}
	s.hmu.Lock()
	for _, r := range bad {
		if s.corrupt[r.ID] == r.Holder {
			delete(s.corrupt, r.ID)
		}
	}
	s.hmu.Unlock()
	s.deleteShards(context.WithoutCancel(ctx), bad)
	s.log.Info("repaired", "file", f, "shards", repaired, "failed", failed)
	s.dirty()
	return repaired, failed, nil
}

func (s *Service) setRepairing(refs []ShardRef, idx []int, on bool) {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	for _, j := range idx {
		if on {
			s.repairing[refs[j].ID] = true
		} else {
			delete(s.repairing, refs[j].ID)
		}
	}
}

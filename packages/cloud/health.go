package cloud

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"oepc.dev/oepcos/packages/cloud/codec"
	"oepc.dev/oepcos/packages/cloud/index"
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
	// Name is what the owner calls the holder (Config.HolderName).
	Name  string `json:"name,omitempty"`
	State string `json:"state"`
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
		h.Path, _ = index.CleanPath(ref)
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

func (s *Service) check(ctx context.Context, man *index.Manifest) *Health {
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
	if ctx.Err() == nil { // a cancelled check says nothing about the holders
		s.noteAbsences(slices.Collect(maps.Keys(byHolder)), reached)
	}
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
			sh.Shards = append(sh.Shards, ShardHealth{Index: j, ID: r.ID, Holder: r.Holder, Name: s.holderName(r.Holder), State: st})
		}
		h.MinHealthy = min(h.MinHealthy, sh.Healthy)
		h.Readable = h.Readable && sh.Healthy >= man.K
		h.Complete = h.Complete && sh.Healthy == man.K+man.M
		h.Segments = append(h.Segments, sh)
	}
	return h
}

// threshold is the fewest healthy shards a segment may have and still
// wait for its absent holders. The default, k + ceil(m/2), rebuilds once
// half the parity (rounded up) is gone: for 4+2 that is at k, when a
// second holder is away. Friends' boxes are home machines that reboot,
// lose power and go on holiday; re-placing on every absence moves k
// shards' worth over home uplinks and leaves a stale copy on the box
// when it comes back (Storj repairs at 35 of 80 pieces, Sia below 75%
// health, for the same reason). A box really lost is caught by the
// grace period, and a shard known bad (corrupt, or missing on a holder
// that answered) is rebuilt at once whatever the threshold.
func (s *Service) holderName(p peer.ID) string {
	if p == "" || s.cfg.HolderName == nil {
		return ""
	}
	return s.cfg.HolderName(p)
}

func (s *Service) threshold(man *index.Manifest) int {
	if t := s.cfg.RepairThreshold; t > 0 {
		return min(t, man.K+man.M)
	}
	return man.K + (man.M+1)/2
}

// grace is how long a holder may stay unreachable before it counts as
// lost and its shards are re-placed.
func (s *Service) grace() time.Duration {
	if g := s.cfg.RepairGrace; g > 0 {
		return g
	}
	return 24 * time.Hour
}

// prefixAbsent + holder peer ID → when this box first found the holder
// unreachable (RFC 3339), kept across restarts so that an update or a
// power cut does not restart every grace period.
const prefixAbsent = "cloud/absent/"

func (s *Service) loadAbsent() {
	s.absentOnce.Do(func() {
		m := map[peer.ID]time.Time{}
		err := s.cfg.KV.Scan([]byte(prefixAbsent), func(k, v []byte) error {
			p, err := peer.Decode(string(k[len(prefixAbsent):]))
			var t time.Time
			if err == nil && t.UnmarshalText(v) == nil {
				m[p] = t
			}
			return nil
		})
		if err != nil {
			s.log.Warn("repair: loading holder absences", "err", err)
		}
		s.hmu.Lock()
		s.absent = m
		s.hmu.Unlock()
	})
}

// noteAbsences records which holders answered: an absence starts the
// first time a holder does not, and ends when it answers again.
func (s *Service) noteAbsences(holders []peer.ID, reached map[peer.ID]bool) {
	s.loadAbsent()
	now := s.cfg.Clock()
	var started, ended []peer.ID
	s.hmu.Lock()
	for _, p := range holders {
		_, away := s.absent[p]
		switch {
		case reached[p] && away:
			delete(s.absent, p)
			ended = append(ended, p)
		case !reached[p] && !away:
			s.absent[p] = now
			started = append(started, p)
		}
	}
	s.hmu.Unlock()
	for _, p := range ended {
		s.cfg.KV.Delete([]byte(prefixAbsent + p.String()))
	}
	for _, p := range started {
		b, _ := now.MarshalText()
		if err := s.cfg.KV.Put([]byte(prefixAbsent+p.String()), b); err != nil {
			s.log.Warn("repair: recording an absent holder", "peer", p, "err", err)
		}
	}
}

// pruneAbsences forgets holders that no longer hold anything, so that
// an old absence does not count against a box that later takes shards.
func (s *Service) pruneAbsences(holders map[peer.ID]bool) {
	s.loadAbsent()
	var gone []peer.ID
	s.hmu.Lock()
	for p := range s.absent {
		if !holders[p] {
			delete(s.absent, p)
			gone = append(gone, p)
		}
	}
	s.hmu.Unlock()
	for _, p := range gone {
		s.cfg.KV.Delete([]byte(prefixAbsent + p.String()))
	}
}

// lost reports whether holder p has been unreachable for the grace period.
func (s *Service) lost(p peer.ID, now time.Time) bool {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	since, ok := s.absent[p]
	return ok && now.Sub(since) >= s.grace()
}

func (s *Service) repairLoop(ctx context.Context) {
	every(ctx, s.cfg.RepairInterval, s.kick, func() {
		if _, err := s.RepairAll(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("repair pass failed", "err", err)
		}
	})
}

// RepairReport says what a repair pass did.
type RepairReport struct {
	Files    int `json:"files"`
	Repaired int `json:"repaired_shards"`
	Failed   int `json:"failed_shards"`
}

// RepairAll checks every file once and repairs what needs it (see
// RepairFile).
func (s *Service) RepairAll(ctx context.Context) (RepairReport, error) {
	var rep RepairReport
	files, err := s.Files()
	if err != nil {
		return rep, err
	}
	holders := map[peer.ID]bool{}
	for _, e := range files {
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		n, f, err := s.repairFile(ctx, e.File, holders)
		rep.Files++
		rep.Repaired += n
		rep.Failed += f
		if err != nil {
			s.log.Warn("repair failed", "path", e.Path, "err", err)
		}
	}
	s.pruneAbsences(holders)
	return rep, nil
}

// RepairFile rebuilds the file's shards that need it and places them on
// other boxes: at once those known bad (corrupt, missing on a holder that
// answered, unplaced) and those of holders away longer than the grace
// period; every unhealthy shard of a segment below the threshold. It
// returns how many shards it repaired and how many it could not.
func (s *Service) RepairFile(ctx context.Context, f codec.FileID) (repaired, failed int, err error) {
	return s.repairFile(ctx, f, nil)
}

// shardChange is a repaired shard: its new holder, to be committed if the
// manifest still names the old one.
type shardChange struct {
	seg, shard int
	old, new   index.ShardRef
}

// repairFile is RepairFile, adding the file's holders to holders if it is
// not nil.
func (s *Service) repairFile(ctx context.Context, f codec.FileID, holders map[peer.ID]bool) (repaired, failed int, err error) {
	man, err := s.ix.Manifest(f)
	if err != nil {
		return 0, 0, err
	}
	h := s.check(ctx, man)
	for _, sg := range man.Segments {
		for _, r := range sg.Shards {
			if holders != nil && r.Holder != "" {
				holders[r.Holder] = true
			}
		}
	}
	coder, err := codec.NewCoder(man.K, man.M)
	if err != nil {
		return 0, 0, err
	}
	var changes []shardChange
	var bad []index.ShardRef // corrupt copies to delete once replaced
	now := s.cfg.Clock()
	for i, sh := range h.Segments {
		sick := s.toRebuild(man, sh, now)
		if len(sick) == 0 {
			continue
		}
		ch, nf := s.repairSegment(ctx, man, coder, i, sh, sick)
		failed += nf
		for _, c := range ch {
			changes = append(changes, c)
			if sh.Shards[c.shard].State == StateCorrupt {
				bad = append(bad, c.old)
			}
		}
	}
	if len(changes) == 0 {
		return 0, failed, nil
	}
	if err := s.commitRepair(ctx, f, changes); err != nil {
		if errors.Is(err, ErrNotFound) {
			return 0, 0, nil
		}
		return 0, failed + len(changes), err
	}
	s.hmu.Lock()
	for _, r := range bad {
		if s.corrupt[r.ID] == r.Holder {
			delete(s.corrupt, r.ID)
		}
	}
	s.hmu.Unlock()
	s.deleteShards(context.WithoutCancel(ctx), bad)
	s.log.Info("repaired", "file", f, "shards", len(changes), "failed", failed)
	s.dirty()
	return len(changes), failed, nil
}

// toRebuild picks the shards of a segment to rebuild now: every
// unhealthy one below the threshold, else those known bad and those of
// holders lost (away past the grace period).
func (s *Service) toRebuild(man *index.Manifest, sh SegmentHealth, now time.Time) []int {
	below := sh.Healthy < s.threshold(man)
	var out []int
	for _, x := range sh.Shards {
		switch {
		case x.State == StateOK:
		case below, x.State != StateUnreachable, s.lost(x.Holder, now):
			out = append(out, x.Index)
		}
	}
	return out
}

// repairSegment rebuilds the shards sick of segment i from k healthy
// ones and places them on boxes that hold no other shard of the segment.
// It returns the shards placed and how many could not be.
func (s *Service) repairSegment(ctx context.Context, man *index.Manifest, coder *codec.Coder, i int, sh SegmentHealth, sick []int) ([]shardChange, int) {
	s.setRepairing(man.Segments[i].Shards, sick, true)
	defer s.setRepairing(man.Segments[i].Shards, sick, false)
	isSick := func(j int) bool { return slices.Contains(sick, j) }
	shards, err := s.fetchShards(ctx, s.cfg.Holders, man, i, man.K, isSick, nil)
	if err == nil {
		err = coder.Reconstruct(shards, false)
	}
	if err != nil {
		s.log.Warn("repair: segment unreadable", "file", man.File, "segment", i, "err", err)
		return nil, len(sick)
	}
	refs := slices.Clone(man.Segments[i].Shards)
	ids := make([]codec.ShardID, len(refs))
	for j := range refs {
		ids[j] = refs[j].ID
		if isSick(j) {
			if codec.SumShard(shards[j]) != refs[j].ID {
				err = fmt.Errorf("repair: rebuilt shard %d of segment %d does not match its ID", j, i)
			}
			refs[j].Holder = ""
		}
	}
	if err == nil {
		err = s.placeSegment(ctx, s.repairPlacer(sh), i, shards, ids, refs, nil)
	}
	if err != nil {
		s.log.Warn("repair: could not place every shard", "file", man.File, "segment", i, "err", err)
	}
	var changes []shardChange
	for _, j := range sick {
		if refs[j].Holder != "" {
			changes = append(changes, shardChange{i, j, man.Segments[i].Shards[j], refs[j]})
		}
	}
	return changes, len(sick) - len(changes)
}

// repairPlacer offers the boxes that hold no healthy shard of the
// segment, never the holders of its unhealthy ones.
func (s *Service) repairPlacer(sh SegmentHealth) *placer {
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
	return pl
}

// commitRepair records the new holders in the current manifest: the file
// may have been removed or replaced meanwhile. On failure it deletes the
// shards it placed.
func (s *Service) commitRepair(ctx context.Context, f codec.FileID, changes []shardChange) error {
	err := s.ix.UpdateManifest(f, func(cur *index.Manifest) {
		for _, c := range changes {
			if cur.Segments[c.seg].Shards[c.shard] == c.old {
				cur.Segments[c.seg].Shards[c.shard] = c.new
			}
		}
	})
	if err != nil {
		var placed []index.ShardRef
		for _, c := range changes {
			placed = append(placed, c.new)
		}
		s.deleteShards(context.WithoutCancel(ctx), placed)
	}
	return err
}

func (s *Service) setRepairing(refs []index.ShardRef, idx []int, on bool) {
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

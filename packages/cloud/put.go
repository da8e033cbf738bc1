package cloud

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/sync/errgroup"

	"oepc.dev/oepcos/packages/cloud/codec"
	"oepc.dev/oepcos/packages/cloud/index"
	"oepc.dev/oepcos/packages/shard"
	"oepc.dev/oepcos/packages/store"
)

// PutOptions tune one put.
type PutOptions struct {
	K, M int // 0: the service default
	// Force places several shards of a segment on one box when there are
	// fewer than k+m boxes (less safe: losing that box loses them all).
	Force bool
	// Progress, if set, is called with the plaintext bytes stored so far.
	Progress func(done int64)
	// Sealed, if set, is called once segment i is sealed and erasure-coded,
	// before its shards go out (the web UI's progress; Progress follows
	// once they are all placed).
	Sealed func(i int)
	// freeName: never replace; commit under the first free name after
	// the path ("a (2).jpg"), chosen under the index lock (deliveries).
	freeName bool
}

// pendingPut journals an upload under way, so shards of a put that never
// finished (the box was killed) are deleted at the next start. Each record
// holds one segment (older boxes wrote one record for the whole file).
type pendingPut struct {
	Segments map[int][]index.ShardRef `json:"segs"`
}

// pendingKey is the journal record of segment i of file.
func pendingKey(file codec.FileID, i int) []byte {
	return fmt.Appendf(nil, "%s%s/%08d", prefixPending, file, i)
}

// pendingFile is the file whose journal record is under key.
func pendingFile(key []byte) (codec.FileID, error) {
	id, _, _ := strings.Cut(strings.TrimPrefix(string(key), prefixPending), "/")
	return codec.ParseFileID(id)
}

// dropPending deletes every journal record of file, in as many
// transactions as they need; each record goes whole, so a crash leaves
// records that still name their shards.
func (s *Service) dropPending(file codec.FileID) error {
	prefix := []byte(prefixPending + file.String())
	err := store.Chunked(s.cfg.KV, func(b *store.Batch) error {
		return s.cfg.KV.Scan(prefix, func(k, _ []byte) error {
			b.Delete(k)
			b.Cut()
			return nil
		})
	})
	if err != nil {
		s.log.Warn("journal records of a put not deleted", "file", file, "err", err)
	}
	return err
}

// placer chooses holders for one put. Every shard of a segment goes to a
// different box; a box that fails is avoided for the rest of the put.
type placer struct {
	mu    sync.Mutex
	cands []peer.ID
	bad   map[peer.ID]bool
	force bool
}

// pick returns a holder for a shard of a segment whose shards are
// already on used, starting the round at start so load spreads.
func (pl *placer) pick(used []peer.ID, start int) (peer.ID, bool) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	n := len(pl.cands)
	for pass := range 2 {
		if pass == 1 && !pl.force {
			break
		}
		for i := range n {
			p := pl.cands[(start+i)%n]
			if pl.bad[p] || (pass == 0 && slices.Contains(used, p)) {
				continue
			}
			return p, true
		}
	}
	return "", false
}

func (pl *placer) fail(p peer.ID) {
	pl.mu.Lock()
	pl.bad[p] = true
	pl.mu.Unlock()
}

// placeSegment stores the shards of one segment on distinct holders,
// moving a shard to another box when its holder fails. refs receives the
// holders as they succeed (so a failed put can delete them).
func (s *Service) placeSegment(ctx context.Context, pl *placer, seg int, shards [][]byte, ids []codec.ShardID, refs []index.ShardRef, placed func(index.ShardRef)) error {
	var mu sync.Mutex
	used := make([]peer.ID, 0, len(shards))
	for i := range refs {
		if refs[i].Holder != "" {
			used = append(used, refs[i].Holder)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	for j := range shards {
		if refs[j].Holder != "" {
			continue // already placed (repair keeps healthy shards)
		}
		g.Go(func() error {
			for attempt := 0; ; attempt++ {
				mu.Lock()
				p, ok := pl.pick(used, seg*len(shards)+j+attempt)
				if ok {
					used = append(used, p)
				}
				mu.Unlock()
				if !ok {
					return fmt.Errorf("segment %d shard %d: no box left to hold it: %w", seg, j, ErrTooFewBoxes)
				}
				t0 := time.Now()
				err := s.putShard(gctx, p, ids[j], shards[j])
				if err == nil {
					s.stats.ok(p, time.Since(t0))
					mu.Lock()
					refs[j].Holder = p
					mu.Unlock()
					if placed != nil {
						placed(index.ShardRef{ID: ids[j], Holder: p})
					}
					return nil
				}
				if gctx.Err() != nil {
					return gctx.Err()
				}
				s.log.Warn("shard put failed; moving it to another box", "peer", p, "shard", ids[j], "err", err)
				s.stats.fail(p)
				pl.fail(p)
				mu.Lock()
				if k := slices.Index(used, p); k >= 0 {
					used = slices.Delete(used, k, k+1)
				}
				mu.Unlock()
			}
		})
	}
	return g.Wait()
}

// putShard stores one shard on p, trying p again after a pause when the
// failure may pass (a busy holder, a reset stream) before the caller gives
// up on p: with exactly k+m boxes there is no other box to move to.
func (s *Service) putShard(ctx context.Context, p peer.ID, id codec.ShardID, data []byte) error {
	var err error
	for try := range 3 {
		if try > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(try) * 300 * time.Millisecond):
			}
		}
		cctx, cancel := s.call(ctx)
		err = s.cfg.Holders.Put(cctx, p, id, data)
		cancel()
		if err == nil || ctx.Err() != nil || permanentPutError(err) {
			return err
		}
		s.log.Info("shard put failed; trying the same box again", "peer", p, "shard", id, "err", err)
	}
	return err
}

// permanentPutError tells failures that waiting does not cure.
func permanentPutError(err error) bool {
	for _, e := range []error{shard.ErrRefused, shard.ErrOverQuota, shard.ErrTooLarge, shard.ErrDiskFull, shard.ErrHashMismatch, shard.ErrBadRequest, shard.ErrNotOwner} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func (s *Service) newPlacer(k, m int, force bool) (*placer, error) {
	cands := s.peers()
	if len(cands) == 0 {
		return nil, fmt.Errorf("%w: no friend boxes to store on", ErrTooFewBoxes)
	}
	if len(cands) < k+m && !force {
		return nil, fmt.Errorf("%w: %d+%d needs %d boxes, %d available (put with force to place several shards on one box, or use a smaller k+m)", ErrTooFewBoxes, k, m, k+m, len(cands))
	}
	// Try the fastest, least failing boxes first.
	slices.SortStableFunc(cands, func(a, b peer.ID) int {
		return int(s.stats.score(a) - s.stats.score(b))
	})
	return &placer{cands: cands, bad: map[peer.ID]bool{}, force: force}, nil
}

// putBlob streams r into shards on holders under a fresh file key. Either
// it returns a complete manifest, or every shard it placed is deleted
// (best effort) and it returns an error.
func (s *Service) putBlob(ctx context.Context, r io.Reader, file codec.FileID, key []byte, o PutOptions) (man *index.Manifest, err error) {
	job, err := s.newPutJob(file, key, o)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			job.undo(context.WithoutCancel(ctx))
		}
	}()
	g, gctx := errgroup.WithContext(ctx)
	br := bufio.NewReaderSize(r, 64<<10)
	seg := job.man.SegmentSize
	var size int64
	slots := make(chan struct{}, s.cfg.InFlight) // bounds this put's memory
	s.bufs.begin()
	defer s.bufs.end()
	release := func(buf []byte) {
		s.bufs.put(buf)
		<-slots
	}
	for i := 0; ; i++ {
		select {
		case slots <- struct{}{}:
		case <-gctx.Done():
			return nil, errors.Join(g.Wait(), gctx.Err())
		}
		buf := s.bufs.get(job.coder.BufSize(seg))
		n, last, err := readSegment(br, buf[:seg])
		if err == nil && i >= 1<<31 {
			err = errors.New("cloud: file too large")
		}
		if err != nil {
			release(buf)
			g.Wait()
			return nil, err
		}
		size += int64(n)
		job.addSegment()
		g.Go(func() error {
			defer release(buf)
			return job.storeSegment(gctx, i, buf, n, last)
		})
		if last {
			break
		}
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("cloud: put: %w", err)
	}
	job.man.Size = size
	return job.man, nil
}

// readSegment fills buf from r and reports whether the file ends with it
// (a segment that fills buf exactly is the last if nothing follows).
func readSegment(r *bufio.Reader, buf []byte) (n int, last bool, err error) {
	n, err = io.ReadFull(r, buf)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return n, true, nil
	case err != nil:
		return n, false, fmt.Errorf("cloud: reading the file: %w", err)
	}
	if _, err := r.Peek(1); err == io.EOF {
		return n, true, nil
	} else if err != nil {
		return n, false, fmt.Errorf("cloud: reading the file: %w", err)
	}
	return n, false, nil
}

// putJob is what the segments of one put share.
type putJob struct {
	s        *Service
	coder    *codec.Coder
	sealer   *codec.Sealer
	pl       *placer
	progress func(done int64)
	sealed   func(i int)
	done     atomic.Int64 // plaintext bytes placed

	mu     sync.Mutex
	man    *index.Manifest  // Segments fill in as they are placed
	placed []index.ShardRef // every shard stored so far, for undo
}

func (s *Service) newPutJob(file codec.FileID, key []byte, o PutOptions) (*putJob, error) {
	k, m := o.K, o.M
	if k == 0 {
		k, m = s.cfg.K, s.cfg.M
	}
	coder, err := codec.NewCoder(k, m)
	if err != nil {
		return nil, err
	}
	sealer, err := codec.NewSealer(key, file)
	if err != nil {
		return nil, err
	}
	pl, err := s.newPlacer(k, m, o.Force)
	if err != nil {
		return nil, err
	}
	man := &index.Manifest{Version: index.ManifestVersion, File: file, K: k, M: m, SegmentSize: s.cfg.SegmentSize, Created: s.cfg.Clock().UTC()}
	return &putJob{s: s, coder: coder, sealer: sealer, pl: pl, progress: o.Progress, sealed: o.Sealed, man: man}, nil
}

// addSegment makes room in the manifest for the next segment read.
func (j *putJob) addSegment() {
	j.mu.Lock()
	j.man.Segments = append(j.man.Segments, index.Segment{})
	j.mu.Unlock()
}

// storeSegment seals and encodes segment i (its n bytes in buf) and
// places its shards. The journal has one small record per segment,
// written before its shards go out: segments do not wait on each other,
// and a record's size does not grow with the file.
func (j *putJob) storeSegment(ctx context.Context, i int, buf []byte, n int, last bool) error {
	enc, err := codec.EncodeSegment(j.sealer, j.coder, buf, n, uint32(i), last)
	if err != nil {
		return err
	}
	if j.sealed != nil {
		j.sealed(i)
	}
	refs := make([]index.ShardRef, len(enc.IDs))
	for k, id := range enc.IDs {
		refs[k].ID = id
	}
	rec := &pendingPut{Segments: map[int][]index.ShardRef{i: refs}} // IDs known, holders not yet
	if err := store.PutJSON(j.s.cfg.KV, pendingKey(j.man.File, i), rec); err != nil {
		return err
	}
	err = j.s.placeSegment(ctx, j.pl, i, enc.Shards, enc.IDs, refs, func(r index.ShardRef) {
		j.mu.Lock()
		j.placed = append(j.placed, r)
		j.mu.Unlock()
	})
	if err != nil {
		return err
	}
	// Again with the holders, so a crash's clean-up knows where to delete.
	rec = &pendingPut{Segments: map[int][]index.ShardRef{i: refs}}
	if err := store.PutJSON(j.s.cfg.KV, pendingKey(j.man.File, i), rec); err != nil {
		return err
	}
	j.mu.Lock()
	j.man.Segments[i] = index.Segment{Len: enc.Len, Shards: refs}
	j.mu.Unlock()
	d := j.done.Add(int64(n))
	if j.progress != nil {
		j.progress(d)
	}
	return nil
}

// undo deletes the shards the put placed (queueing those a holder did not
// confirm) and its journal.
func (j *putJob) undo(ctx context.Context) {
	j.mu.Lock()
	refs := slices.Clone(j.placed)
	j.mu.Unlock()
	j.s.forget(ctx, refs)
	j.s.dropPending(j.man.File)
}

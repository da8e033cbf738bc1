package cloud

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"oepc.dev/oepcos/packages/cloud/codec"
	"oepc.dev/oepcos/packages/cloud/index"
)

// fetchShards gets at least want verified shards of segment i from holders, asking the
// fastest holders first, starting a replacement whenever one fails, and
// cancelling the slow tail once want have arrived. skip marks shards not
// to ask for. Missing shards are nil in the result. With buf (at least k
// shard sizes), data shard j is read into its place buf[j*size:], and no
// fetch still writes there once fetchShards has returned.
func (s *Service) fetchShards(ctx context.Context, holders Holders, man *index.Manifest, i int, want int, skip func(j int) bool, buf []byte) ([][]byte, error) {
	seg := man.Segments[i]
	order := s.shardOrder(man, i, skip)
	if len(order) < want {
		return nil, fmt.Errorf("%w: segment %d has %d of the %d shards it needs", ErrUnavailable, i, len(order), want)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan shardResult, len(order))
	next := 0
	var expect time.Duration // slowest expected answer among those asked
	startNext := func() {
		j := order[next]
		next++
		expect = max(expect, s.stats.score(seg.Shards[j].Holder))
		var dst []byte
		if size := man.ShardSize(i); buf != nil && j < man.K {
			dst = buf[j*size : j*size : (j+1)*size]
		}
		go func() { results <- s.fetchShard(ctx, holders, man, i, j, dst) }()
	}
	for next < len(order) && next < want+s.cfg.GetSpare {
		startNext()
	}
	shards := make([][]byte, len(seg.Shards))
	got, running := 0, next
	var errs []error
	// Hedge against a slow tail: when the shards asked for are late by
	// twice what their holders usually take, ask one more holder, and so
	// on; the first k verified answers win and the rest are cancelled.
	hedgeAfter := func() time.Duration { return max(s.cfg.HedgeDelay, 2*expect) }
	hedge := time.NewTimer(hedgeAfter())
	defer hedge.Stop()
	for got < want && running > 0 {
		select {
		case r := <-results:
			running--
			if r.err != nil {
				errs = append(errs, fmt.Errorf("shard %d from %s: %w", r.j, seg.Shards[r.j].Holder, r.err))
				if next < len(order) {
					startNext()
					running++
				}
				continue
			}
			shards[r.j] = r.data
			got++
		case <-hedge.C:
			if next < len(order) {
				startNext()
				running++
			}
			hedge.Reset(hedgeAfter())
		}
	}
	// The tail is cancelled; wait for it, as it may be writing into buf.
	cancel()
	for ; running > 0; running-- {
		<-results
	}
	if got < want {
		return nil, fmt.Errorf("%w: segment %d: %w", ErrUnavailable, i, errors.Join(errs...))
	}
	return shards, nil
}

// shardOrder returns the shards of segment i worth asking for (a holder,
// not known corrupt, not skipped), fastest holders first; among equals,
// data shards (no decoding).
func (s *Service) shardOrder(man *index.Manifest, i int, skip func(j int) bool) []int {
	seg := man.Segments[i]
	order := make([]int, 0, len(seg.Shards))
	for j, r := range seg.Shards {
		if r.Holder == "" || s.isCorrupt(r.ID, r.Holder) || (skip != nil && skip(j)) {
			continue
		}
		order = append(order, j)
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return int(s.stats.score(seg.Shards[a].Holder) - s.stats.score(seg.Shards[b].Holder))
	})
	return order
}

// shardResult is one holder's answer for shard j.
type shardResult struct {
	j    int
	data []byte
	err  error
}

// fetchShard gets shard j of segment i from its holder, into dst's
// capacity when it is big enough, and keeps the holder's record: its
// answer time, its failures, a corrupt shard (codec.ErrBadShard).
func (s *Service) fetchShard(ctx context.Context, holders Holders, man *index.Manifest, i, j int, dst []byte) shardResult {
	r := man.Segments[i].Shards[j]
	cctx, ccancel := s.call(ctx)
	defer ccancel()
	t0 := time.Now()
	data, err := holders.Get(cctx, r.Holder, r.ID, dst)
	switch {
	case errors.Is(err, codec.ErrBadShard):
		s.log.Warn("holder has a corrupt shard", "peer", r.Holder, "shard", r.ID, "file", man.File)
		s.markCorrupt(r.ID, r.Holder)
	case err != nil:
	case len(data) != man.ShardSize(i): // Holders.Get checked the hash
		s.log.Warn("corrupt shard detected", "peer", r.Holder, "shard", r.ID, "file", man.File)
		s.markCorrupt(r.ID, r.Holder)
		err = codec.ErrBadShard
	default:
		s.stats.ok(r.Holder, time.Since(t0))
	}
	if err != nil && ctx.Err() == nil && !errors.Is(err, codec.ErrBadShard) {
		s.stats.fail(r.Holder)
	}
	return shardResult{j, data, err}
}

// getBlob streams the plaintext of man to w, GetInFlight segments fetched
// at once (the one being written and those queued behind it) and written
// in order.
func (s *Service) getBlob(ctx context.Context, man *index.Manifest, key []byte, w io.Writer) error {
	return s.getBlobFrom(ctx, s.cfg.Holders, man, key, w)
}

// getBlobFrom is getBlob through the given holders.
func (s *Service) getBlobFrom(ctx context.Context, holders Holders, man *index.Manifest, key []byte, w io.Writer) error {
	coder, err := codec.NewCoder(man.K, man.M)
	if err != nil {
		return err
	}
	sealer, err := codec.NewSealer(key, man.File)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		plain []byte
		buf   []byte // plain's buffer, for s.bufs
		err   error
	}
	s.bufs.begin()
	defer s.bufs.end()
	queue := make(chan chan result, max(1, s.cfg.GetInFlight-1))
	go func() {
		defer close(queue)
		for i := range man.Segments {
			ch := make(chan result, 1)
			select {
			case queue <- ch:
			case <-ctx.Done():
				return
			}
			go func() {
				buf := s.bufs.get(man.ShardSize(i) * man.K)
				shards, err := s.fetchShards(ctx, holders, man, i, man.K, nil, buf)
				if err != nil {
					s.bufs.put(buf)
					ch <- result{err: err}
					return
				}
				last := i == len(man.Segments)-1
				pt, err := codec.OpenSegment(sealer, coder, buf, shards, man.Segments[i].Len, uint32(i), last)
				if err != nil {
					s.bufs.put(buf)
					err = fmt.Errorf("segment %d: %w", i, err)
				}
				ch <- result{pt, buf, err}
			}()
		}
	}()
	for ch := range queue {
		var r result
		select {
		case r = <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		if r.err != nil {
			return fmt.Errorf("cloud: get: %w", r.err)
		}
		_, err := w.Write(r.plain)
		s.bufs.put(r.buf)
		if err != nil {
			return fmt.Errorf("cloud: get: writing: %w", err)
		}
	}
	return ctx.Err()
}

// Package cloudtest has test helpers for the personal cloud: Holders, an
// in-memory set of holder boxes that implements cloud.Holders.
//
// It does not import packages/cloud, so the cloud package's own tests can
// use it as well as the tests of the packages built on it.
package cloudtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	p2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"oepc.dev/oepcos/packages/cloud/codec"
)

// Holders is an in-memory set of holder boxes for unit tests of the
// pipeline; the libp2p path is tested with real hosts. A test changes its
// maps only inside Set.
type Holders struct {
	mu       sync.Mutex
	Boxes    map[peer.ID]map[codec.ShardID][]byte // each box's shards
	Down     map[peer.ID]bool                     // boxes that fail every call
	PutsLeft map[peer.ID]int                      // if set, puts a box takes before it fails them
	Delay    map[peer.ID]time.Duration            // added before each call a box answers
	Gets     map[peer.ID]int                      // shard gets each box has answered
}

var errDown = errors.New("fake: box down")

// NewHolders returns n empty holder boxes with fresh peer IDs.
func NewHolders(n int) (*Holders, []peer.ID) {
	f := &Holders{Boxes: map[peer.ID]map[codec.ShardID][]byte{}, Down: map[peer.ID]bool{},
		PutsLeft: map[peer.ID]int{}, Delay: map[peer.ID]time.Duration{}, Gets: map[peer.ID]int{}}
	var ps []peer.ID
	for range n {
		sk, _, err := p2pcrypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			panic(err)
		}
		p, _ := peer.IDFromPrivateKey(sk)
		f.Boxes[p] = map[codec.ShardID][]byte{}
		ps = append(ps, p)
	}
	return f, ps
}

func (f *Holders) wait(ctx context.Context, p peer.ID) error {
	f.mu.Lock()
	d, down := f.Delay[p], f.Down[p]
	f.mu.Unlock()
	if down {
		return errDown
	}
	if d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Put stores a shard on box p.
func (f *Holders) Put(ctx context.Context, p peer.ID, id codec.ShardID, data []byte) error {
	if err := f.wait(ctx, p); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if n, ok := f.PutsLeft[p]; ok {
		if n == 0 {
			return errors.New("fake: disk full")
		}
		f.PutsLeft[p] = n - 1
	}
	if codec.SumShard(data) != id {
		return errors.New("fake: hash mismatch")
	}
	f.Boxes[p][id] = bytes.Clone(data)
	return nil
}

// Get returns a shard from box p, verified against id like a real holder
// client's.
func (f *Holders) Get(ctx context.Context, p peer.ID, id codec.ShardID, dst []byte) ([]byte, error) {
	if err := f.wait(ctx, p); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Gets[p]++
	d, ok := f.Boxes[p][id]
	if !ok {
		return nil, errors.New("fake: not found")
	}
	if codec.SumShard(d) != id {
		return nil, fmt.Errorf("fake: %w", codec.ErrBadShard)
	}
	return append(dst[:0], d...), nil
}

// Has says which of ids box p holds.
func (f *Holders) Has(ctx context.Context, p peer.ID, ids []codec.ShardID) ([]bool, error) {
	if err := f.wait(ctx, p); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]bool, len(ids))
	for i, id := range ids {
		_, out[i] = f.Boxes[p][id]
	}
	return out, nil
}

// Delete removes a shard from box p.
func (f *Holders) Delete(ctx context.Context, p peer.ID, id codec.ShardID) error {
	if err := f.wait(ctx, p); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.Boxes[p], id)
	return nil
}

// Count is the number of shards on all boxes.
func (f *Holders) Count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, b := range f.Boxes {
		n += len(b)
	}
	return n
}

// Set runs fn, which may change the maps, under the holders' lock.
func (f *Holders) Set(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
}

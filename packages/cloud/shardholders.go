package cloud

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"

	"oepc.dev/oepcos/packages/cloud/codec"
	"oepc.dev/oepcos/packages/shard"
)

// ShardHolders reaches holders through packages/shard's client, and the
// box's own shard store directly (libp2p does not dial itself), so the
// owner's box can hold one shard of each segment like any other box.
type ShardHolders struct {
	Client *shard.Client
	Local  *shard.Store // optional
	Self   peer.ID
}

func (h ShardHolders) local(p peer.ID) bool { return h.Local != nil && p == h.Self }

var _ Holders = ShardHolders{}

// Put stores a shard on p.
func (h ShardHolders) Put(ctx context.Context, p peer.ID, id codec.ShardID, data []byte) error {
	if h.local(p) {
		if codec.SumShard(data) != id {
			return shard.ErrHashMismatch
		}
		return h.Local.Put(h.Self, shard.ID(id), bytes.NewReader(data), int64(len(data)))
	}
	return h.Client.Put(ctx, p, shard.ID(id), data)
}

// Get fetches a shard; a holder's corrupt copy becomes codec.ErrBadShard.
func (h ShardHolders) Get(ctx context.Context, p peer.ID, id codec.ShardID, dst []byte) ([]byte, error) {
	var b []byte
	var err error
	if h.local(p) {
		b, err = h.Local.GetInto(shard.ID(id), dst)
	} else {
		b, err = h.Client.GetInto(ctx, p, shard.ID(id), dst)
	}
	if errors.Is(err, shard.ErrHashMismatch) || errors.Is(err, shard.ErrCorrupt) {
		return nil, fmt.Errorf("%w: %w", codec.ErrBadShard, err)
	}
	return b, err
}

// Has asks p which shards it holds.
func (h ShardHolders) Has(ctx context.Context, p peer.ID, ids []codec.ShardID) ([]bool, error) {
	sids := make([]shard.ID, len(ids))
	for i, id := range ids {
		sids[i] = shard.ID(id)
	}
	if h.local(p) {
		out := make([]bool, len(ids))
		for i, id := range sids {
			ok, err := h.Local.Has(id)
			if err != nil {
				return nil, err
			}
			out[i] = ok
		}
		return out, nil
	}
	return h.Client.Has(ctx, p, sids)
}

// Delete removes this box's reference to a shard on p.
func (h ShardHolders) Delete(ctx context.Context, p peer.ID, id codec.ShardID) error {
	var err error
	if h.local(p) {
		err = h.Local.Delete(h.Self, shard.ID(id))
	} else {
		err = h.Client.Delete(ctx, p, shard.ID(id))
	}
	if errors.Is(err, shard.ErrNotFound) {
		return nil
	}
	return err
}

// HostedStore reports a shard store's "Hosted for others".
type HostedStore struct{ Store *shard.Store }

// Hosted lists the owners whose shards this box keeps.
func (h HostedStore) Hosted(context.Context) (any, error) {
	used, quota := h.Store.Usage()
	return map[string]any{"used": used, "quota": quota, "owners": h.Store.Hosted()}, nil
}

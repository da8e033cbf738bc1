package cloud

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"oepc.dev/oepcos/packages/cloud/codec"
	"oepc.dev/oepcos/packages/shard"
)

// ShardHolders reaches holders through packages/shard's client, and the
// box's own shard store directly (libp2p does not dial itself), so the
// owner's box can hold one shard of each segment like any other box.
// Shards belong to the owner's key: puts, deletes and lists are signed
// with it, so any of the owner's boxes manages them.
type ShardHolders struct {
	Client *shard.Client
	Local  *shard.Store // optional
	Self   peer.ID
	// Key returns the owner's signing key, nil before setup; New sets it
	// to the Service's owner key when it is nil.
	Key func() ed25519.PrivateKey
}

func (h ShardHolders) local(p peer.ID) bool { return h.Local != nil && p == h.Self }

func (h ShardHolders) key() (ed25519.PrivateKey, error) {
	if h.Key == nil {
		return nil, ErrNoKey
	}
	if k := h.Key(); k != nil {
		return k, nil
	}
	return nil, ErrNoKey
}

var (
	_ Holders     = ShardHolders{}
	_ shardLister = ShardHolders{}
	_ grantGetter = ShardHolders{}
)

// Put stores a shard on p.
func (h ShardHolders) Put(ctx context.Context, p peer.ID, id codec.ShardID, data []byte) error {
	key, err := h.key()
	if err != nil {
		return err
	}
	if h.local(p) {
		if codec.SumShard(data) != id {
			return shard.ErrHashMismatch
		}
		return h.Local.PutFrom(shard.OwnerOf(key), h.Self, id, bytes.NewReader(data), int64(len(data)))
	}
	return h.Client.WithOwner(key).Put(ctx, p, id, data)
}

// Get fetches a shard; a holder's corrupt copy becomes codec.ErrBadShard.
func (h ShardHolders) Get(ctx context.Context, p peer.ID, id codec.ShardID, dst []byte) ([]byte, error) {
	var b []byte
	var err error
	if h.local(p) {
		b, err = h.Local.GetInto(id, dst)
	} else {
		b, err = h.Client.GetInto(ctx, p, id, dst)
	}
	if errors.Is(err, shard.ErrHashMismatch) || errors.Is(err, shard.ErrCorrupt) {
		return nil, fmt.Errorf("%w: %w", codec.ErrBadShard, err)
	}
	return b, err
}

// Has asks p which shards it holds.
func (h ShardHolders) Has(ctx context.Context, p peer.ID, ids []codec.ShardID) ([]bool, error) {
	if h.local(p) {
		out := make([]bool, len(ids))
		for i, id := range ids {
			ok, err := h.Local.Has(id)
			if err != nil {
				return nil, err
			}
			out[i] = ok
		}
		return out, nil
	}
	return h.Client.Has(ctx, p, ids)
}

// Delete removes the owner's reference to a shard on p; a shard that is
// not there (or not the owner's) counts as deleted.
func (h ShardHolders) Delete(ctx context.Context, p peer.ID, id codec.ShardID) error {
	key, err := h.key()
	if err != nil {
		return err
	}
	if h.local(p) {
		err = h.Local.Delete(shard.OwnerOf(key), id)
	} else {
		err = h.Client.WithOwner(key).Delete(ctx, p, id)
	}
	if errors.Is(err, shard.ErrNotFound) || errors.Is(err, shard.ErrNotOwner) {
		return nil
	}
	return err
}

// List returns up to limit of the shards p keeps for the owner, from from
// on in ID order.
func (h ShardHolders) List(ctx context.Context, p peer.ID, from codec.ShardID, limit int) ([]HeldShard, error) {
	key, err := h.key()
	if err != nil {
		return nil, err
	}
	var ls []shard.Listed
	if h.local(p) {
		ls, err = h.Local.List(shard.OwnerOf(key), from, limit)
	} else {
		ls, err = h.Client.WithOwner(key).List(ctx, p, from, limit)
	}
	if err != nil {
		return nil, err
	}
	out := make([]HeldShard, len(ls))
	for i, l := range ls {
		out[i] = HeldShard{ID: l.ID, Age: l.Age}
	}
	return out, nil
}

// GetGranted fetches ids[i] from p against the owner's grant (a share's).
func (h ShardHolders) GetGranted(ctx context.Context, p peer.ID, grant []byte, ids []codec.ShardID, i int, dst []byte) ([]byte, error) {
	g, err := shard.UnmarshalGrant(grant)
	if err != nil {
		return nil, err
	}
	b, err := h.Client.GetGranted(ctx, p, g, ids, i, dst)
	if errors.Is(err, shard.ErrHashMismatch) || errors.Is(err, shard.ErrCorrupt) {
		return nil, fmt.Errorf("%w: %w", codec.ErrBadShard, err)
	}
	return b, err
}

// HostedStore reports a shard store's "Hosted for others", apart from the
// box's own shards (those of the owner key Own returns; nil before setup).
type HostedStore struct {
	Store *shard.Store
	Own   func() ed25519.PublicKey
	// Name names a box (the friend's name), "" if unknown.
	Name func(peer.ID) string
}

// HostedOwner is one owner in "hosted for others".
type HostedOwner struct {
	Owner  string      `json:"owner"` // owner key, hex
	Shards int         `json:"shards"`
	Bytes  int64       `json:"bytes"`
	Since  time.Time   `json:"since"`
	Boxes  []HostedBox `json:"boxes,omitempty"`
	// EvictAt: none of the owner's boxes is a friend any more; its shards
	// are deleted then.
	EvictAt time.Time `json:"evict_at,omitzero"`
}

// HostedBox is one of an owner's boxes.
type HostedBox struct {
	Peer peer.ID `json:"peer"`
	Name string  `json:"name,omitempty"`
}

// HostedReport is the answer of GET /v1/cloud/hosted.
type HostedReport struct {
	Used  int64 `json:"used"`
	Quota int64 `json:"quota"`
	// Owners are the shards kept for others.
	Owners []HostedOwner `json:"owners"`
	// Own are this box's own shards (its owner's files), counted in Used.
	Own struct {
		Shards int   `json:"shards"`
		Bytes  int64 `json:"bytes"`
	} `json:"own"`
}

// Hosted reports the shards this box keeps for others, and its own apart.
func (h HostedStore) Hosted(context.Context) (any, error) {
	r := HostedReport{Owners: []HostedOwner{}}
	r.Used, r.Quota = h.Store.Usage()
	var own shard.Owner
	hasOwn := false
	if h.Own != nil {
		if k := h.Own(); len(k) == len(own) {
			own, hasOwn = shard.Owner(k), true
		}
	}
	for _, e := range h.Store.Hosted() {
		if hasOwn && e.Owner == own {
			r.Own.Shards, r.Own.Bytes = e.Shards, e.Bytes
			continue
		}
		o := HostedOwner{Owner: e.Owner.String(), Shards: e.Shards, Bytes: e.Bytes, Since: e.Since, EvictAt: e.EvictAt}
		for _, b := range e.Boxes {
			hb := HostedBox{Peer: b}
			if h.Name != nil {
				hb.Name = h.Name(b)
			}
			o.Boxes = append(o.Boxes, hb)
		}
		r.Owners = append(r.Owners, o)
	}
	return r, nil
}

package box

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"path/filepath"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"oepc.dev/oepcos/packages/cloud"
	"oepc.dev/oepcos/packages/cloud/cloudapi"
	"oepc.dev/oepcos/packages/localapi"
	"oepc.dev/oepcos/packages/shard"
)

// mountCloud wires the personal cloud's owner side into the box: the
// cloud service, placing shards on friends and on this box's own shard
// store (b.Shards, the holder side), with its API (packages/cloud/cloudapi)
// under /v1/cloud/ and /v1/send.
func mountCloud(b *Box, api *localapi.Server) error {
	h := b.Node.Host
	st := b.Shards
	holderName := func(p peer.ID) string {
		if p == h.ID() {
			return "this box"
		}
		f, _ := b.Friends.Get(p)
		return f.Name
	}
	var svc *cloud.Service
	svc, err := cloud.New(cloud.Config{
		Host:    h,
		Holders: cloud.ShardHolders{Client: shard.NewClient(h), Local: st, Self: h.ID()},
		// Candidates are the box itself (it holds one shard per segment
		// like each friend: a household with five friends can keep 4+2)
		// and the friends online now, so a put or repair does not wait on
		// boxes that are gone.
		Peers: func() []peer.ID {
			out := []peer.ID{h.ID()}
			for _, p := range b.Friends.Peers() {
				if h.Network().Connectedness(p) == network.Connected {
					out = append(out, p)
				}
			}
			return out
		},
		// A put cut off by a crash is cleaned up on every friend.
		Friends: b.Friends.Peers,
		// Blocked friends are refused like strangers.
		IsFriend: b.Friends.Allowed,
		// Health reports show friends by name.
		HolderName: holderName,
		ResolveFriend: func(s string) (peer.ID, error) {
			f, err := b.Friends.Lookup(s)
			if err != nil {
				return "", fmt.Errorf("%w: %w", cloud.ErrNotFound, err)
			}
			return f.ID, nil
		},
		KV:     b.DB,
		Dir:    filepath.Join(b.Cfg.DataDir, "cloud"),
		Logger: b.Log.With("component", "cloud"),
		Hosted: cloud.HostedStore{
			Store: st,
			// The box's own shards are its owner's, not hosted for others.
			Own: func() ed25519.PublicKey {
				if o, err := svc.Owner(); err == nil {
					return o.PublicKey()
				}
				return nil
			},
			Name: holderName,
		},
		RepairGrace: b.Cfg.RepairGrace,
	})
	if err != nil {
		return err
	}
	b.Cloud = svc
	capi := cloudapi.Mount(api, svc)
	if b.UI != nil {
		b.Go(func(ctx context.Context) error { publishTransfers(ctx, capi.Transfers(), b.UI.Publish); return nil })
	}
	b.Go(func(ctx context.Context) error {
		defer svc.Close()
		return svc.Run(ctx)
	})
	b.sweep = make(chan struct{}, 1)
	b.Go(func(ctx context.Context) error { b.sweepLoop(ctx); return nil })
	return nil
}

// sweepEvery is how often the holder checks for owners none of whose
// boxes is a friend any more (the grace period runs in days).
const sweepEvery = time.Hour

// sweepLoop starts, stops and ends the eviction clock of owners whose
// boxes are no longer friends (shard.Store.Sweep): hourly, and when a
// friend is removed or blocked.
func (b *Box) sweepLoop(ctx context.Context) {
	self := b.Node.Host.ID()
	allowed := func(p peer.ID) bool { return p == self || b.Friends.Allowed(p) }
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		if _, err := b.Shards.Sweep(allowed, time.Now()); err != nil {
			b.Log.Warn("evicting ex-friends' shards", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-b.sweep:
		}
	}
}

func (b *Box) kickSweep() {
	if b.sweep == nil {
		return
	}
	select {
	case b.sweep <- struct{}{}:
	default:
	}
}

// transferGap spaces the transfer events sent to the web UI's tabs.
const transferGap = 100 * time.Millisecond

// publishTransfers sends the cloud's transfers (uploads named by a page)
// to the web UI's tabs as "transfers" events as they change, coalesced so
// a fast upload sends a few events a second, the last state always.
func publishTransfers(ctx context.Context, ts *cloudapi.Transfers, publish func(kind string, v any)) {
	notify, changed, cancel, err := ts.Subscribe()
	if err != nil {
		return
	}
	defer cancel()
	for {
		select {
		case <-ctx.Done():
			return
		case <-notify:
		}
		for _, t := range changed() {
			publish("transfers", t)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(transferGap):
		}
	}
}

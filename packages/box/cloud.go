package box

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/peer"

	"oepc.dev/oepcos/packages/cloud"
	"oepc.dev/oepcos/packages/localapi"
	"oepc.dev/oepcos/packages/shard"
)

// ShardQuota is the disk the box offers its friends for their shards.
const ShardQuota = 256 << 30

// mountCloud wires the personal cloud into the box: the holder side (a
// shard store and server answering friends only, announcing in the DHT)
// and the owner side (the cloud service, placing shards on friends and on
// this box's own store), with its API under /v1/cloud/ and /v1/send.
func mountCloud(b *Box, api *localapi.Server) error {
	h := b.Node.Host
	st, err := shard.OpenStore(filepath.Join(b.Cfg.DataDir, "shards"), b.DB, ShardQuota, b.Log)
	if err != nil {
		return fmt.Errorf("box: shard store: %w", err)
	}
	srv := shard.NewServer(h, st, b.Friends, b.Node, b.Log)
	svc, err := cloud.New(cloud.Config{
		Host:    h,
		Holders: cloud.ShardHolders{Client: shard.NewClient(h), Local: st, Self: h.ID()},
		// The box itself holds one shard per segment like each friend:
		// a household with five friends can keep 4+2.
		Peers:    func() []peer.ID { return append([]peer.ID{h.ID()}, b.Friends.Peers()...) },
		IsFriend: b.Friends.IsFriend,
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
		Hosted: cloud.HostedStore{Store: st},
	})
	if err != nil {
		srv.Close()
		return err
	}
	svc.Mount(api)
	b.Go(func(ctx context.Context) error {
		defer srv.Close()
		defer svc.Close()
		return svc.Run(ctx)
	})
	return nil
}

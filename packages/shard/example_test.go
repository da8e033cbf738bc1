package shard_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"oepc.dev/oepcos/packages/shard"
	"oepc.dev/oepcos/packages/store"
)

// A holder box serves its friends; an owner box puts and gets shards.
func Example() {
	var (
		holder, owner host.Host // libp2p hosts, connected
		kv            store.KV  // the box's badger database
		isFriend      func(peer.ID) bool
		ownerKey      ed25519.PrivateKey // the owner's cloud key (from the recovery phrase)
		ctx           = context.Background()
	)
	if holder == nil {
		return // (hosts and database elided)
	}

	// Holder side: 50 GB for friends' shards under the data dir.
	st, err := shard.OpenStore("/perm/oepc/shards", kv, 50<<30, slog.Default())
	if err != nil {
		panic(err)
	}
	srv := shard.NewServer(holder, st, shard.AuthorizerFunc(isFriend), slog.Default())
	defer srv.Close()

	// Owner side: the shards belong to the owner key, whichever box sends
	// them.
	c := shard.NewClient(owner).WithOwner(ownerKey)
	data := []byte("an encrypted, erasure-coded shard")
	id := shard.Sum(data)
	switch err := c.Put(ctx, holder.ID(), id, data); {
	case errors.Is(err, shard.ErrRefused), errors.Is(err, shard.ErrOverQuota), errors.Is(err, shard.ErrDiskFull):
		// place it on another box
	case errors.Is(err, shard.ErrBusy):
		// retry later
	case err != nil:
		panic(err)
	}
	b, err := c.Get(ctx, holder.ID(), id) // verified against id
	fmt.Println(len(b), err)
}

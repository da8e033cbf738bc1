package cloud

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"oepc.dev/oepcos/packages/cloud/keys"
	"oepc.dev/oepcos/packages/p2p/p2ptest"
	"oepc.dev/oepcos/packages/shard"
	"oepc.dev/oepcos/packages/store"
)

// BenchmarkRealHolders puts and gets 64 MiB through real shard servers on
// six in-process libp2p hosts (loopback TCP): the owner side's cost with
// the network stack, in one process (use -cpuprofile to see where it goes).
func BenchmarkRealHolders(b *testing.B) {
	owner := p2ptest.Host(b)
	var ids []peer.ID
	for range 6 {
		hb := newHolderBox(b, func(p peer.ID) bool { return p == owner.ID() })
		p2ptest.Connect(b, owner, hb.h)
		ids = append(ids, hb.h.ID())
	}
	kv, err := store.Open(b.TempDir(), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer kv.Close()
	s, err := New(Config{
		Host: owner, Holders: ShardHolders{Client: shard.NewClient(owner)}, Peers: func() []peer.ID { return ids },
		KV: kv, Owner: keys.New(), RepairInterval: -1, BackupDelay: -1,
	})
	if err != nil {
		b.Fatal(err)
	}
	data := randBytes(64 << 20)
	ctx := context.Background()
	var tPut, tGet time.Duration
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		t0 := time.Now()
		if _, err := s.Put(ctx, "/b", bytes.NewReader(data), PutOptions{}); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := s.Get(ctx, "/b", io.Discard); err != nil {
			b.Fatal(err)
		}
		tPut += t1.Sub(t0)
		tGet += time.Since(t1)
	}
	mb := float64(b.N) * float64(len(data)) / 1e6
	b.ReportMetric(mb/tPut.Seconds(), "put-MB/s")
	b.ReportMetric(mb/tGet.Seconds(), "get-MB/s")
}

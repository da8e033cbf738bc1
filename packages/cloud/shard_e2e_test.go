package cloud

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"oepc.dev/oepcos/packages/cloud/keys"
	"oepc.dev/oepcos/packages/p2p/p2ptest"
	"oepc.dev/oepcos/packages/shard"
	"oepc.dev/oepcos/packages/store"
)

// holderBox is a real holder: libp2p host, shard store on disk, server.
type holderBox struct {
	h   host.Host
	dir string
	st  *shard.Store
}

func newHolderBox(t testing.TB, allowed func(peer.ID) bool) *holderBox {
	t.Helper()
	h := p2ptest.Host(t)
	dir := t.TempDir()
	kv, err := store.Open(filepath.Join(dir, "db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kv.Close() })
	st, err := shard.OpenStore(filepath.Join(dir, "shards"), kv, 1<<30, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := shard.NewServer(h, st, shard.AuthorizerFunc(allowed), nil)
	t.Cleanup(func() { srv.Close() })
	return &holderBox{h: h, dir: dir, st: st}
}

// TestRealHolders runs the cloud against real shard servers on real
// libp2p hosts on 127.0.0.1: put/get across 6 holders, 2 holders killed,
// a shard corrupted on a holder's disk, and repair back to k+m.
func TestRealHolders(t *testing.T) {
	if testing.Short() {
		t.Skip("libp2p network test")
	}
	owner := p2ptest.Host(t)
	var mu sync.Mutex
	var holders []*holderBox
	alive := map[peer.ID]bool{}
	all := func(p peer.ID) bool { return p == owner.ID() }
	for range 6 {
		hb := newHolderBox(t, all)
		p2ptest.Connect(t, owner, hb.h)
		holders = append(holders, hb)
		alive[hb.h.ID()] = true
	}
	peers := func() []peer.ID {
		mu.Lock()
		defer mu.Unlock()
		var out []peer.ID
		for _, hb := range holders {
			if alive[hb.h.ID()] {
				out = append(out, hb.h.ID())
			}
		}
		return out
	}
	kv, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer kv.Close()
	client := shard.NewClient(owner)
	s, err := New(Config{
		Host: owner, Holders: ShardHolders{Client: client}, Peers: peers, KV: kv, Owner: keys.New(),
		SegmentSize: 1 << 20, RepairInterval: -1, BackupDelay: -1, CallTimeout: 20 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	data := randBytes(8<<20 + 12345)
	if _, err := s.Put(ctx, "/big.bin", bytes.NewReader(data), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	get := func() {
		t.Helper()
		var b bytes.Buffer
		if _, err := s.Get(ctx, "/big.bin", &b); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b.Bytes(), data) {
			t.Fatal("differs")
		}
	}
	get()

	// Corrupt one shard on a holder's disk: the get still succeeds, the
	// bad shard is detected and repaired.
	man, _ := s.Manifest("/big.bin")
	victim := man.Segments[0].Shards[0]
	var vh *holderBox
	for _, hb := range holders {
		if hb.h.ID() == victim.Holder {
			vh = hb
		}
	}
	corruptFile(t, vh.dir, victim.ID.String())
	for range 100 { // its average falls to zero: it is asked first
		s.stats.ok(victim.Holder, 0)
	}
	get()
	if !s.isCorrupt(victim.ID, victim.Holder) {
		// The holder detects it too and drops it: either way health shows
		// the shard unhealthy.
		h, _ := s.Health(ctx, "/big.bin")
		if h.Segments[0].Shards[0].State == StateOK {
			t.Fatal("corrupt shard not detected")
		}
	}

	// Kill two holders for good.
	for _, hb := range holders[:2] {
		hb.h.Close()
	}
	get()
	h, _ := s.Health(ctx, "/big.bin")
	if h.Complete || !h.Readable {
		t.Fatalf("health after losing 2: complete=%v readable=%v", h.Complete, h.Readable)
	}
	// Two replacement boxes join; repair brings every segment to k+m.
	for range 2 {
		hb := newHolderBox(t, all)
		p2ptest.Connect(t, owner, hb.h)
		mu.Lock()
		holders = append(holders, hb)
		alive[hb.h.ID()] = true
		mu.Unlock()
	}
	mu.Lock()
	for _, hb := range holders[:2] {
		alive[hb.h.ID()] = false
	}
	mu.Unlock()
	rep, err := s.RepairAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h, _ = s.Health(ctx, "/big.bin")
	if !h.Complete {
		t.Fatalf("not complete after repair %+v: min healthy %d", rep, h.MinHealthy)
	}
	t.Logf("repair: %+v", rep)
	// Now any two of the current holders may go.
	for _, hb := range holders[2:4] {
		hb.h.Close()
	}
	get()
	// Delete removes the shards from the holders.
	if _, err := s.Remove(ctx, "/big.bin", false); err != nil {
		t.Fatal(err)
	}
	for _, hb := range holders[4:] {
		n := 0
		hb.st.Each(func(shard.ID, int64) error { n++; return nil })
		if n != 0 {
			t.Fatalf("holder keeps %d shards after rm", n)
		}
	}
}

func corruptFile(t *testing.T, dir, name string) {
	t.Helper()
	found := false
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && filepath.Base(filepath.Dir(p))+filepath.Base(p) == name {
			b, _ := os.ReadFile(p)
			b[len(b)/2] ^= 0xff
			os.WriteFile(p, b, 0o600)
			found = true
		}
		return nil
	})
	if !found {
		t.Fatalf("shard file %s not found", name)
	}
}

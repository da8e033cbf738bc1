package cloud

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"oepc.dev/oepcos/packages/cloud/index"
	"oepc.dev/oepcos/packages/cloud/keys"
	"oepc.dev/oepcos/packages/p2p/p2ptest"
	"oepc.dev/oepcos/packages/shard"
	"oepc.dev/oepcos/packages/store"
)

// friendSet is a mutable friend list.
type friendSet struct {
	mu sync.Mutex
	m  map[peer.ID]bool
}

func newFriendSet() *friendSet { return &friendSet{m: map[peer.ID]bool{}} }

func (f *friendSet) add(ps ...peer.ID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range ps {
		f.m[p] = true
	}
}

func (f *friendSet) del(p peer.ID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.m, p)
}

func (f *friendSet) has(p peer.ID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.m[p]
}

// realBox is a whole box on a real libp2p host: a shard store and server
// (the holder side), and a cloud service whose shards go to its friends
// through the real shard protocol (the owner side).
type realBox struct {
	h       host.Host
	st      *shard.Store
	srv     *shard.Server
	s       *Service
	friends *friendSet
	online  func() []peer.ID // friends to place shards on
}

func newRealBox(t testing.TB, owner *keys.Owner, cfg func(*realBox, *Config)) *realBox {
	t.Helper()
	b := &realBox{h: p2ptest.Host(t), friends: newFriendSet()}
	dir := t.TempDir()
	kv, err := store.Open(filepath.Join(dir, "db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kv.Close() })
	if b.st, err = shard.OpenStore(filepath.Join(dir, "shards"), kv, 1<<30, nil); err != nil {
		t.Fatal(err)
	}
	b.srv = shard.NewServer(b.h, b.st, shard.AuthorizerFunc(b.friends.has), nil)
	t.Cleanup(func() { b.srv.Close() })
	c := Config{
		Host:    b.h,
		Holders: ShardHolders{Client: shard.NewClient(b.h)},
		Peers: func() []peer.ID {
			if b.online != nil {
				return b.online()
			}
			return nil
		},
		IsFriend:    b.friends.has,
		KV:          kv,
		Owner:       owner,
		SegmentSize: seg, RepairInterval: -1, BackupDelay: -1, ReconcileInterval: -1,
		CallTimeout: 10 * time.Second,
	}
	if cfg != nil {
		cfg(b, &c)
	}
	if b.s, err = New(c); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.s.Close() })
	return b
}

// befriend makes a and b friends and connects them.
func befriend(t testing.TB, a, b *realBox) {
	t.Helper()
	a.friends.add(b.h.ID())
	b.friends.add(a.h.ID())
	p2ptest.Connect(t, a.h, b.h)
}

// offline stops b's shard server (b keeps its store); online starts it
// again.
func (b *realBox) offline() { b.srv.Close() }

func (b *realBox) online_() {
	b.srv = shard.NewServer(b.h, b.st, shard.AuthorizerFunc(b.friends.has), nil)
}

func (b *realBox) stop() {
	b.s.Close()
	b.srv.Close()
	b.h.Close()
}

// boxIDs returns the boxes as placement candidates.
func boxIDs(bs []*realBox) func() []peer.ID {
	return func() []peer.ID {
		var out []peer.ID
		for _, b := range bs {
			out = append(out, b.h.ID())
		}
		return out
	}
}

// holdsAny reports which of the file's shards are still on their holders.
func heldShards(boxes []*realBox, man *index.Manifest) int {
	n := 0
	for _, sg := range man.Segments {
		for _, r := range sg.Shards {
			for _, b := range boxes {
				if b.h.ID() == r.Holder {
					if ok, _ := b.st.Has(r.ID); ok {
						n++
					}
				}
			}
		}
	}
	return n
}

// After a recovery on a new box (a new peer ID), rm deletes the old box's
// shards from the holders: they belong to the owner's key.
func TestRecoverThenRemoveDeletesOldShards(t *testing.T) {
	if testing.Short() {
		t.Skip("libp2p network test")
	}
	ctx := context.Background()
	owner := keys.New()
	var holders []*realBox
	for range 6 {
		holders = append(holders, newRealBox(t, nil, nil))
	}
	old := newRealBox(t, owner, nil)
	old.online = boxIDs(holders)
	for _, h := range holders {
		befriend(t, old, h)
	}
	data := randBytes(3*seg + 7)
	if _, err := old.s.Put(ctx, "/f.bin", bytes.NewReader(data), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	man, _ := old.s.Manifest("/f.bin")
	if _, err := old.s.Backup(ctx); err != nil {
		t.Fatal(err)
	}
	old.stop()

	fresh := newRealBox(t, nil, nil)
	fresh.online = boxIDs(holders)
	for _, h := range holders {
		befriend(t, fresh, h)
	}
	if n, err := fresh.s.Recover(ctx, owner.Phrase()); err != nil || n != 1 {
		t.Fatalf("recover: %d, %v", n, err)
	}
	if got := heldShards(holders, man); got != 6*len(man.Segments) {
		t.Fatalf("%d shards held before rm", got)
	}
	if _, err := fresh.s.Remove(ctx, "/f.bin", false); err != nil {
		t.Fatal(err)
	}
	if got := heldShards(holders, man); got != 0 {
		t.Fatalf("%d of the old box's shards left on the holders after rm on the new box", got)
	}
}

// A friend a file is shared with fetches it while the owner's box is off,
// from holders that are not its friends, with the grant in the share; a
// third friend cannot use that grant.
func TestShareWhileOwnerOff(t *testing.T) {
	if testing.Short() {
		t.Skip("libp2p network test")
	}
	ctx := context.Background()
	var holders []*realBox
	for range 6 {
		holders = append(holders, newRealBox(t, nil, nil))
	}
	a := newRealBox(t, keys.New(), nil)
	a.online = boxIDs(holders)
	for _, h := range holders {
		befriend(t, a, h)
	}
	r := newRealBox(t, keys.New(), nil) // the recipient: a's friend only
	c := newRealBox(t, keys.New(), nil) // another friend of a's
	befriend(t, a, r)
	befriend(t, a, c)
	for _, h := range holders {
		p2ptest.Connect(t, r.h, h.h) // connected, but strangers to each other
		p2ptest.Connect(t, c.h, h.h)
	}
	data := randBytes(2*seg + 99)
	if _, err := a.s.Put(ctx, "/trip.jpg", bytes.NewReader(data), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	addr, err := a.s.Share(ctx, "/trip.jpg", r.h.ID())
	if err != nil {
		t.Fatal(err)
	}
	a.stop()

	var got bytes.Buffer
	if _, err := r.s.Get(ctx, addr, &got); err != nil || !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("recipient get with the owner off: %v", err)
	}

	// c has the address but not the share; with r's grant it is still
	// refused: the grant names r.
	if _, err := c.s.Get(ctx, addr, new(bytes.Buffer)); err == nil {
		t.Fatal("a share for r served to c")
	}
	var rs receivedShare
	if err := store.GetJSON(r.s.cfg.KV, sharedKey(a.h.ID(), addr[len(addr)-32:]), &rs); err != nil || rs.Token.Grant == nil {
		t.Fatalf("stored token without grant: %v", err)
	}
	man, _ := index.UnmarshalManifest(rs.Token.Manifest)
	ids := grantIDs(man)
	holder := man.Segments[0].Shards[0].Holder
	ch := c.s.cfg.Holders.(ShardHolders)
	if _, err := ch.GetGranted(ctx, holder, rs.Token.Grant, ids, 0, nil); !errors.Is(err, shard.ErrBadAuth) {
		t.Fatalf("r's grant used by c: %v", err)
	}
	rh := r.s.cfg.Holders.(ShardHolders)
	if _, err := rh.GetGranted(ctx, holder, rs.Token.Grant, ids, 0, nil); err != nil {
		t.Fatalf("r's grant used by r: %v", err)
	}
	// Another owner's grant over a's shard IDs is refused: they are not its.
	ownerKey := keys.New()
	other, _ := shard.NewGrant(ownerKey.SigningKey(), r.h.ID(), time.Now().Add(time.Hour), ids)
	if _, err := rh.GetGranted(ctx, holder, other.Marshal(), ids, 0, nil); err == nil {
		t.Fatal("another owner's grant over a's shards accepted")
	}
}

// cloud hosted keeps the box's own shards apart from those it hosts for
// others, names the boxes and shows when an ex-friend's shards go.
func TestHostedSeparatesOwn(t *testing.T) {
	if testing.Short() {
		t.Skip("libp2p network test")
	}
	ctx := context.Background()
	local := func(b *realBox, c *Config) {
		c.Holders = ShardHolders{Client: shard.NewClient(b.h), Local: b.st, Self: b.h.ID()}
	}
	a := newRealBox(t, keys.New(), local)
	f := newRealBox(t, keys.New(), local)
	befriend(t, a, f)
	var others []*realBox
	for range 4 {
		others = append(others, newRealBox(t, nil, nil))
	}
	a.online = func() []peer.ID {
		out := []peer.ID{a.h.ID(), f.h.ID()}
		for _, o := range others {
			out = append(out, o.h.ID())
		}
		return out
	}
	f.online = func() []peer.ID { return []peer.ID{f.h.ID(), a.h.ID()} }
	for _, o := range others {
		befriend(t, a, o)
	}
	if _, err := a.s.Put(ctx, "/mine.bin", bytes.NewReader(randBytes(seg)), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Put(ctx, "/theirs.bin", bytes.NewReader(randBytes(seg)), PutOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	ao, _ := a.s.Owner()
	fo, _ := f.s.Owner()
	hs := HostedStore{Store: a.st, Own: ao.PublicKey, Name: func(p peer.ID) string {
		if p == f.h.ID() {
			return "fred"
		}
		return ""
	}}
	report := func() HostedReport {
		v, err := hs.Hosted(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return v.(HostedReport)
	}
	r := report()
	if r.Own.Shards != 1 {
		t.Fatalf("own shards: %+v", r.Own)
	}
	if len(r.Owners) != 1 || r.Owners[0].Owner != shard.OwnerOf(fo.SigningKey()).String() || r.Owners[0].Shards == 0 {
		t.Fatalf("hosted for others: %+v", r.Owners)
	}
	if b := r.Owners[0].Boxes; len(b) != 1 || b[0].Peer != f.h.ID() || b[0].Name != "fred" {
		t.Fatalf("boxes: %+v", b)
	}
	if r.Used != r.Own.Bytes+r.Owners[0].Bytes {
		t.Fatalf("used %d != own %d + others %d", r.Used, r.Own.Bytes, r.Owners[0].Bytes)
	}
	// f is removed as a friend: its shards get an eviction date.
	a.friends.del(f.h.ID())
	now := time.Now()
	allowed := func(p peer.ID) bool { return p == a.h.ID() || a.friends.has(p) }
	if _, err := a.st.Sweep(allowed, now); err != nil {
		t.Fatal(err)
	}
	r = report()
	if len(r.Owners) != 1 || !r.Owners[0].EvictAt.Equal(now.UTC().Add(shard.DefaultGrace)) || r.Own.Shards != 1 {
		t.Fatalf("after removal: %+v", r)
	}
	if _, err := a.st.Sweep(allowed, now.Add(shard.DefaultGrace)); err != nil {
		t.Fatal(err)
	}
	if r = report(); len(r.Owners) != 0 || r.Own.Shards != 1 {
		t.Fatalf("after the grace period: %+v", r)
	}
}

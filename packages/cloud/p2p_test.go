package cloud

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"oepc.dev/oepcos/packages/cloud/cloudtest"
	"oepc.dev/oepcos/packages/cloud/codec"
	"oepc.dev/oepcos/packages/cloud/index"
	"oepc.dev/oepcos/packages/cloud/keys"
	"oepc.dev/oepcos/packages/p2p/p2ptest"
	"oepc.dev/oepcos/packages/store"
)

// p2pBox is a box with a real host and cloud service; shards go to the
// shared fake holders keyed by the boxes' peer IDs.
type p2pBox struct {
	h       host.Host
	s       *Service
	kv      store.KV
	mu      sync.Mutex // guards friends where a test changes them while the host serves
	friends map[peer.ID]bool
}

func newP2PBox(t testing.TB, f *cloudtest.Holders, peers func() []peer.ID, owner *keys.Owner) *p2pBox {
	t.Helper()
	return newP2PBoxOn(t, p2ptest.Host(t), f, peers, owner)
}

func newP2PBoxOn(t testing.TB, h host.Host, f *cloudtest.Holders, peers func() []peer.ID, owner *keys.Owner) *p2pBox {
	t.Helper()
	kv, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kv.Close() })
	b := &p2pBox{h: h, kv: kv, friends: map[peer.ID]bool{}}
	f.Set(func() { f.Boxes[h.ID()] = map[codec.ShardID][]byte{} })
	s, err := New(Config{
		Host:    h,
		Holders: f,
		Peers:   peers,
		IsFriend: func(p peer.ID) bool {
			b.mu.Lock()
			defer b.mu.Unlock()
			return b.friends[p]
		},
		KV:             kv,
		Owner:          owner,
		SegmentSize:    seg,
		RepairInterval: -1,
		BackupDelay:    -1,
		CallTimeout:    10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	b.s = s
	return b
}

// newNet makes n boxes, all friends and connected.
func newNet(t testing.TB, n int) ([]*p2pBox, *cloudtest.Holders) {
	f, _ := cloudtest.NewHolders(0)
	var boxes []*p2pBox
	peers := func() []peer.ID {
		var out []peer.ID
		for _, b := range boxes {
			out = append(out, b.h.ID())
		}
		return out
	}
	for range n {
		boxes = append(boxes, newP2PBox(t, f, peers, keys.New()))
	}
	for i, a := range boxes {
		for j, b := range boxes {
			if i != j {
				a.friends[b.h.ID()] = true
			}
			if i < j {
				p2ptest.Connect(t, a.h, b.h)
			}
		}
	}
	return boxes, f
}

func TestSendToFriend(t *testing.T) {
	boxes, _ := newNet(t, 7)
	a, b := boxes[0], boxes[1]
	data := randBytes(3*seg + 11)
	ctx := context.Background()
	p, err := a.s.Send(ctx, b.h.ID(), "../photo.jpg", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if p != "/Received/photo.jpg" {
		t.Fatal(p)
	}
	var got bytes.Buffer
	if _, err := b.s.Get(ctx, p, &got); err != nil || !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("friend's copy: %v", err)
	}
	p2, err := a.s.Send(ctx, b.h.ID(), "photo.jpg", bytes.NewReader([]byte("second")))
	if err != nil || p2 != "/Received/photo (2).jpg" {
		t.Fatal(p2, err)
	}
	// Over the receiver's size limit: refused, nothing stored.
	b.s.cfg.MaxDeliverSize = seg
	if _, err := a.s.Send(ctx, b.h.ID(), "big", bytes.NewReader(randBytes(2*seg))); err == nil {
		t.Fatal("oversized delivery accepted")
	}
	if _, err := b.s.Stat("/Received/big"); err == nil {
		t.Fatal("oversized delivery stored")
	}
	// Announced, it is refused before any byte is sent.
	_, err = a.s.SendFile(ctx, b.h.ID(), "big", bytes.NewReader(randBytes(2*seg)), SendOptions{Size: 2 * seg})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "larger than the 4 KiB it accepts in one delivery") {
		t.Fatalf("announced oversized delivery: %v", err)
	}
}

func TestStrangerRefused(t *testing.T) {
	boxes, _ := newNet(t, 6)
	a, b := boxes[0], boxes[1]
	delete(b.friends, a.h.ID()) // b no longer counts a as a friend
	_, err := a.s.Send(context.Background(), b.h.ID(), "x", strings.NewReader("hello"))
	if err == nil || !strings.Contains(err.Error(), "not a friend") {
		t.Fatalf("got %v", err)
	}
	if _, err := b.s.Stat("/Received/x"); err == nil {
		t.Fatal("stranger's file stored")
	}
	// And the sender refuses to talk to non-friends.
	delete(a.friends, b.h.ID())
	if _, err := a.s.Send(context.Background(), b.h.ID(), "x", strings.NewReader("hello")); err == nil {
		t.Fatal("sent to a stranger")
	}
	if _, err := a.s.rootCall(context.Background(), b.h.ID(), rootReq{Op: "get", Pub: make([]byte, 32)}); err == nil {
		t.Fatal("root protocol to a stranger")
	}
}

func TestShare(t *testing.T) {
	boxes, _ := newNet(t, 7)
	a, b, c := boxes[0], boxes[1], boxes[2]
	ctx := context.Background()
	data := randBytes(5*seg + 3)
	if _, err := a.s.Put(ctx, "/docs/report.pdf", bytes.NewReader(data), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	addr, err := a.s.Share(ctx, "/docs/report.pdf", b.h.ID())
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if _, err := b.s.Get(ctx, addr, &got); err != nil || !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("friend get: %v", err)
	}
	// The token was stored at b; without it b pulls a fresh one.
	b.kv.Delete(sharedKey(a.h.ID(), addr[len(addr)-32:]))
	got.Reset()
	if _, err := b.s.Get(ctx, addr, &got); err != nil || !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("friend get (pulled token): %v", err)
	}
	// Another friend with the address but not the share is refused.
	if _, err := c.s.Get(ctx, addr, new(bytes.Buffer)); err == nil {
		t.Fatal("a share for b served to c")
	}
}

func TestBackupAndRecover(t *testing.T) {
	boxes, f := newNet(t, 7)
	a := boxes[0]
	ctx := context.Background()
	phrase, _ := a.s.Owner()
	files := map[string][]byte{"/a.txt": []byte("alpha"), "/dir/b.bin": randBytes(3*seg + 1)}
	for p, d := range files {
		if _, err := a.s.Put(ctx, p, bytes.NewReader(d), PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	a.s.Mkdir("/empty")
	n, err := a.s.Backup(ctx)
	if err != nil || n != 6 {
		t.Fatal(n, err)
	}
	// A second backup replaces the first; its shards are removed.
	before := f.Count()
	if _, err := a.s.Backup(ctx); err != nil {
		t.Fatal(err)
	}
	if f.Count() != before {
		t.Fatalf("old backup shards left: %d → %d", before, f.Count())
	}
	// Box a is lost. A new box, befriended by the others, recovers.
	a.h.Close()
	fresh := newP2PBox(t, f, func() []peer.ID {
		var out []peer.ID
		for _, b := range boxes[1:] {
			out = append(out, b.h.ID())
		}
		return out
	}, nil)
	for _, b := range boxes[1:] {
		b.friends[fresh.h.ID()] = true
		fresh.friends[b.h.ID()] = true
		p2ptest.Connect(t, fresh.h, b.h)
	}
	if _, err := fresh.s.Recover(ctx, "babab "+phrase.Phrase()[6:]); err == nil {
		t.Fatal("wrong phrase accepted")
	}
	n, err = fresh.s.Recover(ctx, phrase.Phrase())
	if err != nil || n != 2 {
		t.Fatal(n, err)
	}
	for p, d := range files {
		var got bytes.Buffer
		if _, err := fresh.s.Get(ctx, p, &got); err != nil || !bytes.Equal(got.Bytes(), d) {
			t.Fatalf("%s after recovery: %v", p, err)
		}
	}
	items, _ := fresh.s.List("/")
	if len(items) != 3 {
		t.Fatalf("ls / after recovery: %+v", items)
	}
}

func TestRootRecordRules(t *testing.T) {
	boxes, _ := newNet(t, 2)
	a, b := boxes[0], boxes[1]
	o, _ := a.s.Owner()
	mk := func(seq uint64) *RootRecord {
		r := &RootRecord{Pub: o.PublicKey(), Seq: seq, Blob: []byte("x")}
		r.Sig = signRoot(o, r)
		return r
	}
	ctx := context.Background()
	if _, err := a.s.rootCall(ctx, b.h.ID(), rootReq{Op: "put", Record: mk(5)}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.s.rootCall(ctx, b.h.ID(), rootReq{Op: "put", Record: mk(4)}); err == nil {
		t.Fatal("stale record accepted")
	}
	forged := mk(9)
	forged.Blob = []byte("y")
	if _, err := a.s.rootCall(ctx, b.h.ID(), rootReq{Op: "put", Record: forged}); err == nil {
		t.Fatal("forged record accepted")
	}
	r, err := a.s.rootCall(ctx, b.h.ID(), rootReq{Op: "get", Pub: o.PublicKey()})
	if err != nil || r.Seq != 5 {
		t.Fatal(r, err)
	}
}

// refusingHolders serve nothing: every holder treats this box as a
// stranger.
type refusingHolders struct{ Holders }

func (refusingHolders) Get(context.Context, peer.ID, codec.ShardID, []byte) ([]byte, error) {
	return nil, errors.New("refused: not a friend")
}

// A friend a file is shared with gets it even when no holder of the file is
// its friend: the owner's box fetches the shards for it. A friend without
// the share cannot use that path.
func TestShareThroughOwner(t *testing.T) {
	boxes, _ := newNet(t, 7)
	a, b, c := boxes[0], boxes[1], boxes[2]
	b.s.cfg.Holders = refusingHolders{b.s.cfg.Holders}
	c.s.cfg.Holders = refusingHolders{c.s.cfg.Holders}
	ctx := context.Background()
	data := randBytes(3*seg + 5)
	if _, err := a.s.Put(ctx, "/photos/trip.jpg", bytes.NewReader(data), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	addr, err := a.s.Share(ctx, "/photos/trip.jpg", b.h.ID())
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if _, err := b.s.Get(ctx, addr, &got); err != nil || !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("friend get through the owner: %v", err)
	}
	if _, err := c.s.Get(ctx, addr, new(bytes.Buffer)); err == nil {
		t.Fatal("a share for b served to c through the owner")
	}
	var sid codec.ShardID
	man, _ := a.s.ix.Manifest(mustStat(t, a.s, "/photos/trip.jpg").File)
	sid = man.Segments[0].Shards[0].ID
	if _, err := c.s.shardFromOwner(ctx, a.h.ID(), addr[len(addr)-32:], sid); err == nil {
		t.Fatal("the owner gave a shard of b's share to c")
	}
}

func mustStat(t *testing.T, s *Service, p string) *index.Entry {
	t.Helper()
	e, err := s.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

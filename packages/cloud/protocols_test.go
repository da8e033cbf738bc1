package cloud

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"oepc.dev/oepcos/packages/cloud/cloudtest"
	"oepc.dev/oepcos/packages/cloud/keys"
	"oepc.dev/oepcos/packages/p2p/p2ptest"
	"oepc.dev/oepcos/packages/wire"
)

// loopbackHost is a bare libp2p host on 127.0.0.1 over one transport:
// the refusal of a send behaves differently over yamux (TCP) and QUIC.
func loopbackHost(t testing.TB, transport string) host.Host {
	t.Helper()
	opts := []libp2p.Option{libp2p.DisableRelay(), libp2p.DisableMetrics()}
	switch transport {
	case "tcp":
		opts = append(opts, libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.Transport(tcp.NewTCPTransport))
	case "quic":
		opts = append(opts, libp2p.ListenAddrStrings("/ip4/127.0.0.1/udp/0/quic-v1"), libp2p.Transport(quic.NewTransport))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// pairOn makes two boxes, friends of each other, over one transport.
func pairOn(t *testing.T, transport string) (a, b *p2pBox) {
	f, _ := cloudtest.NewHolders(0)
	var boxes []*p2pBox
	peers := func() []peer.ID {
		var out []peer.ID
		for _, b := range boxes {
			out = append(out, b.h.ID())
		}
		return out
	}
	for range 2 {
		boxes = append(boxes, newP2PBoxOn(t, loopbackHost(t, transport), f, peers, keys.New()))
	}
	a, b = boxes[0], boxes[1]
	a.friends[b.h.ID()], b.friends[a.h.ID()] = true, true
	p2ptest.Connect(t, a.h, b.h)
	return a, b
}

// A blocked friend's send is answered with the refusal, never with a
// reset stream, over both transports (issue 9, item 15: over QUIC the
// refusing side's close cancelled the sender's writes, and the sender's
// reset then threw the refusal away).
func TestRefusedSend(t *testing.T) {
	for _, tr := range []string{"tcp", "quic"} {
		t.Run(tr, func(t *testing.T) {
			a, b := pairOn(t, tr)
			b.mu.Lock()
			delete(b.friends, a.h.ID()) // b blocks a
			b.mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for i, size := range []int{15, 300 << 10, 3 << 20} {
				_, err := a.s.Send(ctx, b.h.ID(), fmt.Sprintf("note%d.txt", i), bytes.NewReader(randBytes(size)))
				if err == nil || !strings.Contains(err.Error(), "not a friend") {
					t.Fatalf("send of %d bytes to a box that blocked us: %v", size, err)
				}
			}
		})
	}
}

// Two deliveries of one name at the same moment both land, each intact,
// under two names (issue 9, item 5).
func TestConcurrentDeliveriesOneName(t *testing.T) {
	boxes, _ := newNet(t, 7)
	b := boxes[1]
	ctx := context.Background()
	const n = 4
	datas := make([][]byte, n)
	paths := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		datas[i] = randBytes(2*seg + i)
		wg.Go(func() {
			paths[i], errs[i] = boxes[2+i%5].s.Send(ctx, b.h.ID(), "same.jpg", bytes.NewReader(datas[i]))
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("delivery %d: %v", i, errs[i])
		}
		if seen[paths[i]] {
			t.Fatalf("two deliveries stored at %s", paths[i])
		}
		seen[paths[i]] = true
		var got bytes.Buffer
		if _, err := b.s.Get(ctx, paths[i], &got); err != nil || !bytes.Equal(got.Bytes(), datas[i]) {
			t.Fatalf("delivery %d at %s: %v", i, paths[i], err)
		}
	}
}

// A body cut off before its end marker is not stored as a whole file.
func TestTruncatedDelivery(t *testing.T) {
	boxes, _ := newNet(t, 7)
	a, b := boxes[0], boxes[1]
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := a.h.NewStream(ctx, b.h.ID(), ProtoDeliver)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.SetDeadline(time.Now().Add(20 * time.Second))
	writeMsg(st, deliverHeader{Name: "cut.bin", Size: -1})
	var rep reply
	if err := readMsg(st, &rep, maxMsg); err != nil || !rep.OK {
		t.Fatal(rep, err)
	}
	wire.ChunkWriter{W: st}.Write(randBytes(seg + 7)) // no end marker
	st.CloseWrite()
	if err := readMsg(st, &rep, maxMsg); err != nil || rep.OK || !strings.Contains(rep.Error, "cut off") {
		t.Fatalf("answer %+v, %v", rep, err)
	}
	if _, err := b.s.Stat("/Received/cut.bin"); err == nil {
		t.Fatal("a truncated delivery was stored")
	}
}

// One friend cannot hold more than its share of a protocol's streams: the
// next is answered "busy" at once (issue 9, item 4).
func TestFriendStreamLimits(t *testing.T) {
	boxes, _ := newNet(t, 2)
	a, b := boxes[0], boxes[1]
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for proto, n := range map[protocol.ID]int{ProtoShare: sharePerFriend, ProtoRoot: rootPerFriend, ProtoDeliver: deliverPerFriend} {
		var held []network.Stream
		for range n {
			st, err := a.h.NewStream(ctx, b.h.ID(), proto)
			if err != nil {
				t.Fatal(err)
			}
			st.Write([]byte{5}) // a length, and then nothing: the handler waits
			held = append(held, st)
		}
		time.Sleep(200 * time.Millisecond) // the handlers are running
		st, err := a.h.NewStream(ctx, b.h.ID(), proto)
		if err != nil {
			t.Fatal(err)
		}
		st.SetDeadline(time.Now().Add(5 * time.Second))
		var rep reply
		if err := readMsg(st, &rep, maxMsg); err != nil || rep.Error != msgBusy {
			t.Fatalf("%s stream %d: %+v, %v", proto, n+1, rep, err)
		}
		st.Close()
		for _, h := range held {
			h.Reset()
		}
	}
	// A large share request needs a large slot: one per friend.
	big := func() network.Stream {
		st, err := a.h.NewStream(ctx, b.h.ID(), ProtoShare)
		if err != nil {
			t.Fatal(err)
		}
		var h [binary.MaxVarintLen64]byte
		st.Write(h[:binary.PutUvarint(h[:], 1<<20)])
		st.Write(bytes.Repeat([]byte(" "), smallShareMsg+1))
		return st
	}
	first := big()
	defer first.Reset()
	time.Sleep(200 * time.Millisecond)
	second := big()
	second.SetDeadline(time.Now().Add(5 * time.Second))
	var rep reply
	if err := readMsg(second, &rep, maxMsg); err != nil || rep.Error != msgBusy {
		t.Fatalf("second large share request: %+v, %v", rep, err)
	}
}

// Share offers one friend may leave on a box are bounded in number and
// bytes, with a clear refusal; the share still works by its address
// (issue 9, item 4).
func TestShareOfferBounds(t *testing.T) {
	boxes, _ := newNet(t, 7)
	a, b := boxes[0], boxes[1]
	ctx := context.Background()
	defer func(n int, m int64) { maxSharesPerFriend, maxShareBytesPerFriend = n, m }(maxSharesPerFriend, maxShareBytesPerFriend)
	maxSharesPerFriend = 2
	if _, err := a.s.Put(ctx, "/f", bytes.NewReader(randBytes(seg)), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for range 3 {
		addr, err := a.s.Share(ctx, "/f", b.h.ID())
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, addr)
	}
	n := 0
	b.kv.Scan([]byte(prefixShared), func(k, v []byte) error { n++; return nil })
	if n != 2 {
		t.Fatalf("%d offers kept, want 2", n)
	}
	tok, err := a.s.makeToken(addrs[2][len(addrs[2])-32:], shareRecord{File: mustStat(t, a.s, "/f").File, Friend: b.h.ID(), Name: "f"})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.s.offer(ctx, b.h.ID(), tok); err == nil || !strings.Contains(err.Error(), "at most 2 shares from you") {
		t.Fatalf("third offer: %v", err)
	}
	var got bytes.Buffer
	if _, err := b.s.Get(ctx, addrs[2], &got); err != nil || got.Len() != seg {
		t.Fatalf("get by the address of a share not kept: %v", err)
	}
	maxSharesPerFriend, maxShareBytesPerFriend = 100, 100
	if err := a.s.offer(ctx, b.h.ID(), tok); err == nil || !strings.Contains(err.Error(), "would take more than 100 B") {
		t.Fatalf("offer over the byte bound: %v", err)
	}
}

// Blocking a friend closes its connections; a send the blocked box starts
// at that moment may ride a connection it has not yet seen die. It must
// still get the refusal, not "connection reset" (issue 9, item 15: the
// e2e devnet test met exactly this).
func TestSendRightAfterBlock(t *testing.T) {
	for _, tr := range []string{"tcp", "quic"} {
		t.Run(tr, func(t *testing.T) {
			a, b := pairOn(t, tr)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			for i := range 8 {
				b.mu.Lock()
				b.friends[a.h.ID()] = true
				b.mu.Unlock()
				if _, err := a.s.Send(ctx, b.h.ID(), fmt.Sprintf("ok%d.txt", i), bytes.NewReader(randBytes(15))); err != nil {
					t.Fatalf("round %d: send while friends: %v", i, err)
				}
				b.mu.Lock()
				delete(b.friends, a.h.ID())
				b.mu.Unlock()
				b.h.Network().ClosePeer(a.h.ID())
				_, err := a.s.Send(ctx, b.h.ID(), fmt.Sprintf("late%d.txt", i), bytes.NewReader(randBytes(15)))
				if err == nil || !strings.Contains(err.Error(), "not a friend") {
					t.Fatalf("round %d: send right after being blocked: %v", i, err)
				}
			}
		})
	}
}

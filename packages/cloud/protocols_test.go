package cloud

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"oepc.dev/oepcos/packages/cloud/keys"
	"oepc.dev/oepcos/packages/p2p/p2ptest"
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
	f, _ := newFake(0)
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
			delete(b.friends, a.h.ID()) // b blocks a
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

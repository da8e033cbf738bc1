// Package p2ptest starts real OE network nodes on loopback for tests.
package p2ptest

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"oepc.dev/oepcos/packages/p2p"
)

// Loopback are listen addresses on 127.0.0.1 with kernel-chosen ports.
var Loopback = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}

// Node starts a node confined to loopback; it is closed when the test ends.
func Node(t testing.TB, cfg p2p.Config) *p2p.Node {
	t.Helper()
	if cfg.Key == nil {
		k, _, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Key = k
	}
	if cfg.ListenAddrs == nil && !cfg.Private {
		cfg.ListenAddrs = Loopback
	}
	cfg.LoopbackOnly = true
	n, err := p2p.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// Run runs n.Run until the test ends.
func Run(t testing.TB, n *p2p.Node) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// Info is n's address info.
func Info(n *p2p.Node) peer.AddrInfo {
	return peer.AddrInfo{ID: n.Host.ID(), Addrs: n.Host.Addrs()}
}

// Host starts a bare libp2p host on loopback TCP only (no relay, no DHT, no
// mDNS), for tests of one protocol; it is closed when the test ends.
func Host(t testing.TB) host.Host {
	t.Helper()
	h, err := libp2p.New(
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// Connect connects a to b within ten seconds.
func Connect(t testing.TB, a, b host.Host) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		t.Fatal(err)
	}
}

// Package p2ptest starts real OE network nodes on loopback for tests.
package p2ptest

import (
	"context"
	"crypto/rand"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

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

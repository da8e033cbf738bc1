package p2p_test

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"

	"oepc.dev/oepcos/packages/p2p"
	"oepc.dev/oepcos/packages/p2p/p2ptest"
)

// A node with batched TLS talks to a stock libp2p host: the wire format is
// plain TLS 1.3, and bytes arrive intact both ways.
func TestBatchedTLSInterop(t *testing.T) {
	ours := p2ptest.Node(t, p2p.Config{})
	stock := p2ptest.Host(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const proto = "/oe/test-echo/1.0.0"
	stock.SetStreamHandler(proto, func(s network.Stream) {
		defer s.Close()
		io.Copy(s, s)
	})
	if err := ours.Host.Connect(ctx, peer.AddrInfo{ID: stock.ID(), Addrs: stock.Addrs()}); err != nil {
		t.Fatal(err)
	}
	s, err := ours.Host.NewStream(ctx, stock.ID(), proto)
	if err != nil {
		t.Fatal(err)
	}
	if sec := s.Conn().ConnState().Security; sec != libp2ptls.ID {
		t.Fatalf("security %q, want %q", sec, libp2ptls.ID)
	}
	s.SetDeadline(time.Now().Add(20 * time.Second))
	data := make([]byte, 3<<20+12345)
	for i := range data {
		data[i] = byte(i * 31)
	}
	go func() {
		s.Write(data)
		s.CloseWrite()
	}()
	got, err := io.ReadAll(s)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("echo: %d bytes back, want %d, or different", len(got), len(data))
	}
}

package p2p

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
)

// writeLog is the wire under a recordBatcher: it records each write system
// call the batcher would make.
type writeLog struct {
	net.Conn
	calls [][]byte
	fail  error
}

func (w *writeLog) Write(p []byte) (int, error) {
	if w.fail != nil {
		return 0, w.fail
	}
	w.calls = append(w.calls, bytes.Clone(p))
	return len(p), nil
}

func TestRecordBatcher(t *testing.T) {
	wire := &writeLog{}
	b := &recordBatcher{Conn: wire}

	// Outside a batch (handshake, alerts) every write goes straight out.
	b.Write([]byte("hello"))
	if len(wire.calls) != 1 {
		t.Fatalf("unbatched write: %d calls, want 1", len(wire.calls))
	}

	// In a batch, records gather and leave in one call, in order.
	b.hold(true)
	for _, r := range []string{"a", "bb", "ccc"} {
		if n, err := b.Write([]byte(r)); n != len(r) || err != nil {
			t.Fatalf("held write: %d, %v", n, err)
		}
	}
	if len(wire.calls) != 1 {
		t.Fatalf("held records went out early: %d calls", len(wire.calls))
	}
	b.hold(false)
	// A write arriving after the batch (an alert from Close) must follow it.
	b.Write([]byte("alert"))
	if err := b.flush(); err != nil {
		t.Fatal(err)
	}
	want := []string{"hello", "abbccc", "alert"}
	if len(wire.calls) != len(want) {
		t.Fatalf("calls %q, want %q", wire.calls, want)
	}
	for i := range want {
		if string(wire.calls[i]) != want[i] {
			t.Fatalf("call %d is %q, want %q", i, wire.calls[i], want[i])
		}
	}

	// A batch never grows past maxBatch: what is gathered goes first.
	wire.calls = nil
	b.hold(true)
	b.Write(make([]byte, maxBatch-10))
	b.Write(bytes.Repeat([]byte{1}, 20))
	if len(wire.calls) != 2 || len(wire.calls[0]) != maxBatch-10 || len(wire.calls[1]) != 20 {
		t.Fatalf("overflowing batch: %d calls", len(wire.calls))
	}
	b.hold(false)

	// Once the wire failed, the connection stays failed.
	b.hold(true)
	b.Write([]byte("lost"))
	wire.fail = errors.New("broken pipe")
	if err := b.flush(); err == nil {
		t.Fatal("flush onto a broken wire succeeded")
	}
	wire.fail = nil
	if _, err := b.Write([]byte("more")); err == nil {
		t.Fatal("write after a failed flush succeeded")
	}
}

// A node with batched TLS talks to a stock libp2p host: the wire format is
// plain TLS 1.3, and bytes arrive intact both ways.
func TestBatchedTLSInterop(t *testing.T) {
	ours := newTestNode(t)
	stock := newStockHost(t)
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

func newTestNode(t *testing.T) *Node {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(context.Background(), Config{Key: k, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, LoopbackOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func newStockHost(t *testing.T) host.Host {
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

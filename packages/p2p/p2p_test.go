package p2p_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	ma "github.com/multiformats/go-multiaddr"

	"oepc.dev/oepcos/packages/p2p"
	"oepc.dev/oepcos/packages/p2p/p2ptest"
)

func waitFor(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Two super nodes, a public box and a box behind "NAT" (no listen address):
// the boxes bootstrap, find each other through the DHT, the public pair talk
// directly, the private box is reached through a relay, and when its
// bootstrap node dies a box moves to the other one.
func TestNetwork(t *testing.T) {
	// Relay limits raised as the devnet raises them: the echo below
	// crosses the relay with more than production's 128 KiB.
	roomy := p2p.RelayConfig{CircuitDuration: time.Hour, CircuitData: 4 << 30}
	s1 := p2ptest.Node(t, p2p.Config{SuperNode: true, Relay: roomy})
	s2 := p2ptest.Node(t, p2p.Config{SuperNode: true, Relay: roomy, Bootstrap: []peer.AddrInfo{p2ptest.Info(s1)}})
	p2ptest.Run(t, s1)
	p2ptest.Run(t, s2)
	boot := []peer.AddrInfo{p2ptest.Info(s1), p2ptest.Info(s2)}
	waitFor(t, "super nodes to find each other", 10*time.Second, func() bool {
		return s1.Host.Network().Connectedness(s2.Host.ID()) == network.Connected
	})

	a := p2ptest.Node(t, p2p.Config{Bootstrap: boot})
	b := p2ptest.Node(t, p2p.Config{Bootstrap: boot})
	hidden := p2ptest.Node(t, p2p.Config{Bootstrap: boot, Private: true})
	for _, n := range []*p2p.Node{a, b, hidden} {
		p2ptest.Run(t, n)
	}
	for name, n := range map[string]*p2p.Node{"a": a, "b": b, "hidden": hidden} {
		waitFor(t, name+" to join", 20*time.Second, func() bool { return n.Stats().Joined })
	}

	// a knows nothing of b but its ID: the DHT (the super nodes) finds it.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := a.Connect(ctx, b.Host.ID()); err != nil {
		t.Fatalf("a could not reach b through the DHT: %v", err)
	}
	for _, c := range a.Host.Network().ConnsToPeer(b.Host.ID()) {
		if _, err := c.RemoteMultiaddr().ValueForProtocol(ma.P_CIRCUIT); err == nil {
			t.Fatalf("a-b connection is relayed (%s), want direct", c.RemoteMultiaddr())
		}
	}

	// The hidden box has only relay addresses: a reaches it through one.
	waitFor(t, "hidden box to get a relay address", 20*time.Second, func() bool {
		for _, addr := range hidden.Host.Addrs() {
			if _, err := addr.ValueForProtocol(ma.P_CIRCUIT); err == nil {
				return true
			}
		}
		return false
	})
	const proto = "/oe/test-echo/1.0.0"
	hidden.Host.SetStreamHandler(proto, func(s network.Stream) {
		defer s.Close()
		io.Copy(s, s)
	})
	waitFor(t, "a to reach the hidden box", 30*time.Second, func() bool {
		return a.Connect(ctx, hidden.Host.ID()) == nil
	})
	s, err := a.Host.NewStream(p2p.StreamContext(ctx), hidden.Host.ID(), proto)
	if err != nil {
		t.Fatalf("stream over relay: %v", err)
	}
	payload := make([]byte, 256<<10) // more than the stock 128 KiB relay limit
	go func() { s.Write(payload); s.CloseWrite() }()
	got, err := io.ReadAll(s)
	if err != nil || len(got) != len(payload) {
		t.Fatalf("echo over relay: %d bytes, %v", len(got), err)
	}
	st := a.Stats()
	if st.RelayedTotal == 0 {
		t.Fatalf("relayed connection not counted: %+v", st)
	}
	if st.DirectTotal == 0 || st.DirectRatio <= 0 || st.DirectRatio >= 1 {
		t.Fatalf("implausible counts: %+v", st)
	}

	// Kill b's bootstrap node: b moves to the other one.
	first := b.Stats().Bootstrap
	var victim *p2p.Node
	for _, sn := range []*p2p.Node{s1, s2} {
		if sn.Host.ID().String() == first {
			victim = sn
		}
	}
	if victim == nil {
		t.Fatalf("b's bootstrap %q is not a super node", first)
	}
	victim.Close()
	waitFor(t, "b to move to the other bootstrap node", 20*time.Second, func() bool {
		st := b.Stats()
		return st.Bootstrap != "" && st.Bootstrap != first
	})
}

// A super node told nothing about its relay keeps libp2p's relay v2
// limits: a relayed connection carries 128 KiB each way and is then reset.
func TestRelayDefaultsAreLibp2ps(t *testing.T) {
	if d, lib := p2p.DefaultRelay(), relayv2.DefaultResources(); d.CircuitData != lib.Limit.Data ||
		d.CircuitDuration != lib.Limit.Duration || d.ReservationsPerIP != lib.MaxReservationsPerIP ||
		d.MaxReservations != lib.MaxReservations || d.MaxCircuits != lib.MaxCircuits {
		t.Fatalf("DefaultRelay %+v is not libp2p's %+v, %+v", d, lib, *lib.Limit)
	}
	sn := p2ptest.Node(t, p2p.Config{SuperNode: true})
	p2ptest.Run(t, sn)
	boot := []peer.AddrInfo{p2ptest.Info(sn)}
	// Both behind "NAT": the only path between them is the relay.
	a := p2ptest.Node(t, p2p.Config{Bootstrap: boot, Private: true})
	hidden := p2ptest.Node(t, p2p.Config{Bootstrap: boot, Private: true})
	p2ptest.Run(t, a)
	p2ptest.Run(t, hidden)
	waitFor(t, "hidden box to get a relay address", 20*time.Second, func() bool {
		for _, addr := range hidden.Host.Addrs() {
			if _, err := addr.ValueForProtocol(ma.P_CIRCUIT); err == nil {
				return true
			}
		}
		return false
	})
	const proto = "/oe/test-echo/1.0.0"
	hidden.Host.SetStreamHandler(proto, func(s network.Stream) {
		defer s.Close()
		io.Copy(s, s)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Host.Connect(p2p.StreamContext(ctx), peer.AddrInfo{ID: hidden.Host.ID(), Addrs: hidden.Host.Addrs()}); err != nil {
		t.Fatalf("reach the hidden box through the relay: %v", err)
	}
	echo := func(n int) (int, error) {
		s, err := a.Host.NewStream(p2p.StreamContext(ctx), hidden.Host.ID(), proto)
		if err != nil {
			return 0, err
		}
		defer s.Close()
		if !s.Conn().Stat().Limited {
			t.Fatalf("stream over %s is not relayed", s.Conn().RemoteMultiaddr())
		}
		s.SetDeadline(time.Now().Add(20 * time.Second))
		go func() { s.Write(make([]byte, n)); s.CloseWrite() }()
		got, err := io.ReadAll(s)
		return len(got), err
	}
	if got, err := echo(16 << 10); got != 16<<10 || err != nil {
		t.Fatalf("16 KiB over the relay: %d bytes, %v", got, err)
	}
	if got, err := echo(256 << 10); got == 256<<10 && err == nil {
		t.Fatalf("256 KiB crossed a relay with production limits")
	}
}

func TestLoopbackOnlyRefusesOtherAddresses(t *testing.T) {
	a := p2ptest.Node(t, p2p.Config{})
	b := p2ptest.Node(t, p2p.Config{})
	for _, addr := range a.Host.Addrs() {
		if !isLoopback(addr) {
			t.Fatalf("a announces non-loopback address %s", addr)
		}
	}
	bad, _ := ma.NewMultiaddr("/ip4/192.0.2.1/tcp/4001")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	err := a.Host.Connect(ctx, peer.AddrInfo{ID: b.Host.ID(), Addrs: []ma.Multiaddr{bad}})
	if err == nil {
		t.Fatal("dial to a non-loopback address was allowed")
	}
}

func isLoopback(a ma.Multiaddr) bool {
	v, err := a.ValueForProtocol(ma.P_IP4)
	return err == nil && len(v) > 4 && v[:4] == "127."
}

func TestParseAddrInfos(t *testing.T) {
	n := p2ptest.Node(t, p2p.Config{})
	var ss []string
	for _, a := range n.P2PAddrs() {
		ss = append(ss, a.String())
	}
	infos, err := p2p.ParseAddrInfos(ss)
	if err != nil || len(infos) != 1 || infos[0].ID != n.Host.ID() || len(infos[0].Addrs) != len(ss) {
		t.Fatalf("ParseAddrInfos(%v) = %v, %v", ss, infos, err)
	}
	if _, err := p2p.ParseAddrInfos([]string{"/ip4/127.0.0.1/tcp/1"}); err == nil {
		t.Fatal("address without /p2p accepted")
	}
	if _, err := p2p.ParseAddrInfos([]string{"nonsense"}); err == nil {
		t.Fatal("nonsense accepted")
	}
}

func TestDialRankerPrefersTCPOnTheLAN(t *testing.T) {
	mk := func(s string) ma.Multiaddr { return ma.StringCast(s) }
	got := map[string]time.Duration{}
	for _, ad := range p2p.DialRanker([]ma.Multiaddr{
		mk("/ip4/192.168.1.5/tcp/4001"), mk("/ip4/192.168.1.5/udp/4001/quic-v1"),
		mk("/ip4/127.0.0.1/tcp/4001"), mk("/ip4/127.0.0.1/udp/4001/quic-v1"),
		mk("/ip4/8.8.8.8/tcp/4001"), mk("/ip4/8.8.8.8/udp/4001/quic-v1"),
	}) {
		got[ad.Addr.String()] = ad.Delay
	}
	if len(got) != 6 {
		t.Fatalf("ranked %d addresses, want 6: %v", len(got), got)
	}
	for _, lan := range []string{"192.168.1.5", "127.0.0.1"} {
		tcp, quic := got["/ip4/"+lan+"/tcp/4001"], got["/ip4/"+lan+"/udp/4001/quic-v1"]
		if tcp != 0 || quic <= tcp {
			t.Errorf("%s: TCP after %v, QUIC after %v; want TCP first", lan, tcp, quic)
		}
	}
	// Across the internet libp2p's own ranking stands: QUIC first.
	if tcp, quic := got["/ip4/8.8.8.8/tcp/4001"], got["/ip4/8.8.8.8/udp/4001/quic-v1"]; quic > tcp {
		t.Errorf("public: QUIC after %v, TCP after %v; want QUIC first", quic, tcp)
	}
}

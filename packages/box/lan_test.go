package box

import (
	"context"
	"log/slog"
	"net"
	"oepc.dev/oepcos/packages/home/mdns/mdnstest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"

	"oepc.dev/oepcos/packages/friends"
	"oepc.dev/oepcos/packages/home/mdns"
	"oepc.dev/oepcos/packages/localapi"
)

func TestLANMultiaddrs(t *testing.T) {
	got := lanMultiaddrs(mdns.Peer{P2PPort: 4001, Addrs: []net.IP{net.IPv4(10, 0, 0, 2), net.ParseIP("fd00::2"), net.IPv4zero}})
	var s []string
	for _, a := range got {
		s = append(s, a.String())
	}
	if strings.Join(s, " ") != "/ip4/10.0.0.2/tcp/4001 /ip6/fd00::2/tcp/4001" {
		t.Fatalf("multiaddrs %v", s)
	}
}

// inLANNetns is set in the copy of the test binary that runs inside the
// network namespace TestFriendsFindEachOtherOnTheLAN made.
const inLANNetns = "OEPC_BOX_TEST_LAN"

// lanBox is a box run by Run inside the test's namespace.
type lanBox struct {
	box  *Box
	api  *localapi.Client
	id   peer.ID
	stop func()
}

// logBuf is a log both boxes write to.
type logBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var lanLog = &logBuf{}

func startLANBox(t *testing.T, dir, name, ip, iface string) *lanBox {
	t.Helper()
	ready := make(chan Info, 1)
	boxes := make(chan *Box, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{DataDir: dir, Name: name, APIAddr: ip + ":7070",
			ListenAddrs: []string{"/ip4/" + ip + "/tcp/0"}, Quota: 1 << 30,
			Logger:    slog.New(slog.NewTextHandler(lanLog, nil)).With("box", name),
			Advertise: true, AdvertiseInterfaces: []string{iface},
			Mounts: []func(*Box, *localapi.Server) error{func(b *Box, _ *localapi.Server) error { boxes <- b; return nil }},
			Ready:  func(i Info) { ready <- i }})
	}()
	lb := &lanBox{}
	lb.stop = func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("box did not stop")
		}
	}
	select {
	case i := <-ready:
		lb.api, lb.id = &localapi.Client{Base: i.API, Token: i.Token}, i.PeerID
	case err := <-done:
		t.Fatalf("box %s stopped: %v", name, err)
	case <-time.After(60 * time.Second):
		t.Fatalf("box %s never became ready", name)
	}
	lb.box = <-boxes
	return lb
}

// TestFriendsFindEachOtherOnTheLAN runs two boxes (Run, in this process)
// in a network namespace of their own, one on each end of a veth pair,
// with no super node anywhere. They make friends with an invite URI, then
// both restart on new libp2p ports, so that no address they knew works:
// they find each other over mDNS and connect directly, and a libp2p ping
// goes through.
func TestFriendsFindEachOtherOnTheLAN(t *testing.T) {
	if testing.Short() {
		t.Skip("network test")
	}
	if !mdnstest.NetnsVeth(t, "TestFriendsFindEachOtherOnTheLAN", inLANNetns) {
		return
	}

	dirA, dirB := t.TempDir(), t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// Friends, by the invite URI (it carries the inviter's addresses).
	a := startLANBox(t, dirA, "alpha", "10.78.0.1", "oema0")
	b := startLANBox(t, dirB, "beta", "10.78.0.2", "oemb0")
	var inv friends.Invite
	if err := a.api.Do(ctx, "POST", "/v1/friends/invite", InviteRequest{}, &inv); err != nil {
		t.Fatal(err)
	}
	if err := b.api.Do(ctx, "POST", "/v1/friends/accept", AcceptRequest{Invite: inv.URI}, nil); err != nil {
		t.Fatal(err)
	}
	b.stop()
	a.stop()

	// Both again, on new ports: only mDNS can tell them where the other is.
	a = startLANBox(t, dirA, "alpha", "10.78.0.1", "oema0")
	defer a.stop()
	b = startLANBox(t, dirB, "beta", "10.78.0.2", "oemb0")
	defer b.stop()
	if !a.box.Friends.IsFriend(b.id) || !b.box.Friends.IsFriend(a.id) {
		t.Fatal("the boxes are not friends after the restart")
	}
	deadline := time.Now().Add(90 * time.Second)
	for a.box.Node.Host.Network().Connectedness(b.id) != network.Connected {
		if time.Now().After(deadline) {
			var lan []LANBox
			b.api.Do(ctx, "GET", "/v1/lan", nil, &lan)
			t.Fatalf("the friends did not connect within 90 s; beta's /v1/lan: %+v", lan)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, c := range a.box.Node.Host.Network().ConnsToPeer(b.id) {
		if c.Stat().Limited {
			t.Fatalf("connection %s is relayed, want direct", c.RemoteMultiaddr())
		}
		if !strings.HasPrefix(c.RemoteMultiaddr().String(), "/ip4/10.78.0.") {
			t.Fatalf("connection to %s, want a LAN address", c.RemoteMultiaddr())
		}
	}
	pctx, pcancel := context.WithTimeout(ctx, 20*time.Second)
	res := <-ping.Ping(pctx, a.box.Node.Host, b.id)
	pcancel()
	if res.Error != nil {
		t.Fatalf("ping alpha -> beta: %v", res.Error)
	}
	var lan []LANBox
	for deadline := time.Now().Add(60 * time.Second); ; {
		if err := b.api.Do(ctx, "GET", "/v1/lan", nil, &lan); err != nil {
			t.Fatal(err)
		}
		if len(lan) == 1 && lan[0].ID == a.id.String() && lan[0].Friend && lan[0].Connected && lan[0].P2PPort > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("beta's /v1/lan: %+v, want alpha, a connected friend", lan)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if l := lanLog.String(); !strings.Contains(l, `msg="box on the LAN"`) || !strings.Contains(l, `msg="connected to a friend on the LAN"`) {
		t.Fatalf("no box found and connected on the LAN in the log:\n%s", l)
	}
	t.Logf("alpha -> beta ping %v; beta sees %+v", res.RTT, lan)
}

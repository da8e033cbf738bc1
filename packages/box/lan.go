package box

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"oepc.dev/oepcos/packages/home/mdns"
	"oepc.dev/oepcos/packages/localapi"
)

// lanAddrTTL is how long a LAN address learnt over mDNS stays in the
// peerstore without being heard of again.
const lanAddrTTL = 10 * time.Minute

// LANBox is another box seen on the LAN (GET /v1/lan).
type LANBox struct {
	ID        string   `json:"id"`
	Version   string   `json:"version"`
	Instance  string   `json:"instance"`
	Addrs     []string `json:"addrs"`
	Port      int      `json:"port"`
	P2PPort   int      `json:"p2p_port,omitempty"`
	Friend    bool     `json:"friend"`
	Connected bool     `json:"connected"`
}

// p2pPort is the node's libp2p TCP listening port, or 0.
func (b *Box) p2pPort() int {
	for _, a := range b.Node.Host.Network().ListenAddresses() {
		if _, err := a.ValueForProtocol(ma.P_CIRCUIT); err == nil {
			continue
		}
		if na, err := manet.ToNetAddr(a); err == nil {
			if tcp, ok := na.(*net.TCPAddr); ok && tcp.Port > 0 {
				return tcp.Port
			}
		}
	}
	return 0
}

// browseLAN finds the other boxes on the LAN over mDNS. A friend's LAN
// addresses go into the peerstore and the node dials it there, so two
// friends on one LAN connect directly, with no super node. The ID in the
// TXT record is not trusted: libp2p's handshake proves the peer holds
// that ID's key, or the dial fails.
func (b *Box) browseLAN(api *localapi.Server, self string) {
	dials := make(chan struct{}, 4) // bounds concurrent dials
	var br *mdns.Browser
	found := func(ctx context.Context, p mdns.Peer) {
		pid, err := peer.Decode(p.ID)
		friend := err == nil && b.Friends.IsFriend(pid)
		b.Log.Info("box on the LAN", "id", p.ID, "addr", p.Addrs, "p2p_port", p.P2PPort, "friend", friend)
		if !friend || p.P2PPort == 0 {
			return
		}
		addrs := lanMultiaddrs(p)
		if len(addrs) == 0 {
			return
		}
		b.Node.Host.Peerstore().AddAddrs(pid, addrs, lanAddrTTL)
		if b.Node.Host.Network().Connectedness(pid) == network.Connected {
			return
		}
		select {
		case dials <- struct{}{}:
		default:
			return // the redialer tries the peerstore's addresses later
		}
		go func() {
			defer func() { <-dials }()
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := b.Node.Host.Connect(cctx, peer.AddrInfo{ID: pid, Addrs: addrs}); err != nil {
				b.Log.Info("friend on the LAN did not answer", "id", p.ID, "addrs", addrs, "err", err)
				return
			}
			b.Log.Info("connected to a friend on the LAN", "id", p.ID)
		}()
	}
	ready := make(chan struct{})
	b.Go(func(ctx context.Context) error {
		br = mdns.NewBrowser(mdns.BrowseConfig{Interfaces: b.Cfg.AdvertiseInterfaces, Self: self, Logger: b.Log,
			Found: func(p mdns.Peer) { found(ctx, p) }})
		close(ready)
		return br.Run(ctx)
	})
	api.HandleFunc("GET /v1/lan", func(w http.ResponseWriter, r *http.Request) {
		out := []LANBox{}
		select {
		case <-ready:
		default:
			localapi.WriteJSON(w, http.StatusOK, out)
			return
		}
		for _, p := range br.Peers() {
			lb := LANBox{ID: p.ID, Version: p.Version, Instance: p.Instance, Port: p.Port, P2PPort: p.P2PPort}
			for _, ip := range p.Addrs {
				lb.Addrs = append(lb.Addrs, ip.String())
			}
			if pid, err := peer.Decode(p.ID); err == nil {
				lb.Friend = b.Friends.IsFriend(pid)
				lb.Connected = b.Node.Host.Network().Connectedness(pid) == network.Connected
			}
			out = append(out, lb)
		}
		localapi.WriteJSON(w, http.StatusOK, out)
	})
}

// lanMultiaddrs are /ip4/ADDR/tcp/P2P (and /ip6) for a box found on the LAN.
func lanMultiaddrs(p mdns.Peer) []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, ip := range p.Addrs {
		if ip.IsUnspecified() || ip.IsMulticast() {
			continue
		}
		a, err := manet.FromNetAddr(&net.TCPAddr{IP: ip, Port: p.P2PPort})
		if err == nil {
			out = append(out, a)
		}
	}
	return out
}

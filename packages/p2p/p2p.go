// Package p2p is a box's (or super node's) place on the OE network: one
// libp2p host with TCP and QUIC, TLS 1.3 (the records of one write sent
// together) or Noise, yamux, an explicitly limited resource manager, the OE
// Kademlia DHT (its own protocol prefix, its own bootstrap list, never
// IPFS's), AutoNAT, hole punching, circuit relay v2 as the fallback (a super
// node's relay keeps libp2p's limits unless told otherwise), and
// optional mDNS for boxes in one house. It counts every connection as direct
// or relayed and keeps a box attached to a random reachable bootstrap node.
package p2p

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	relayclient "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// DHTPrefix makes the OE DHT its own network: IPFS peers never join it.
const DHTPrefix protocol.ID = "/oe"

// MDNSService is the DNS-SD service name boxes in one house announce.
const MDNSService = "_oe-box._udp"

// RelayConfig is what a super node's relay gives the peers it serves,
// strangers all. Zero fields take DefaultRelay's values.
type RelayConfig struct {
	CircuitDuration    time.Duration // how long one relayed connection may last
	CircuitData        int64         // bytes one relayed connection may carry each way
	MaxReservations    int           // relay slots held at once
	ReservationsPerIP  int           // of which from one IP address
	ReservationsPerASN int           // of which from one autonomous system
	MaxCircuits        int           // relayed connections open at once per peer
	BufferSize         int           // bytes buffered per relayed connection and direction
}

// DefaultRelay is the production relay: libp2p's relay v2 defaults. A
// relayed connection is for reaching a box and hole punching a direct path
// (DCUtR), not for carrying its data: a super node relays for everyone and
// must not be drained by a few. The devnet, whose boxes share one address
// and whose "NAT" cannot be punched, raises the limits with the super node's
// --relay-* flags.
func DefaultRelay() RelayConfig {
	d := relayv2.DefaultResources()
	return RelayConfig{
		CircuitDuration:    d.Limit.Duration,
		CircuitData:        d.Limit.Data,
		MaxReservations:    d.MaxReservations,
		ReservationsPerIP:  d.MaxReservationsPerIP,
		ReservationsPerASN: d.MaxReservationsPerASN,
		MaxCircuits:        d.MaxCircuits,
		BufferSize:         d.BufferSize,
	}
}

// withDefaults fills the zero fields of c from DefaultRelay.
func (c RelayConfig) withDefaults() RelayConfig {
	d := DefaultRelay()
	fill := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	if c.CircuitDuration <= 0 {
		c.CircuitDuration = d.CircuitDuration
	}
	if c.CircuitData <= 0 {
		c.CircuitData = d.CircuitData
	}
	fill(&c.MaxReservations, d.MaxReservations)
	fill(&c.ReservationsPerIP, d.ReservationsPerIP)
	fill(&c.ReservationsPerASN, d.ReservationsPerASN)
	fill(&c.MaxCircuits, d.MaxCircuits)
	fill(&c.BufferSize, d.BufferSize)
	return c
}

func (c RelayConfig) resources() relayv2.Resources {
	c = c.withDefaults()
	rc := relayv2.DefaultResources()
	rc.Limit = &relayv2.RelayLimit{Duration: c.CircuitDuration, Data: c.CircuitData}
	rc.MaxReservations = c.MaxReservations
	rc.MaxReservationsPerIP = c.ReservationsPerIP
	rc.MaxReservationsPerASN = c.ReservationsPerASN
	rc.MaxCircuits = c.MaxCircuits
	rc.BufferSize = c.BufferSize
	return rc
}

// Config describes a node. Zero values are safe defaults for a box.
type Config struct {
	Key         crypto.PrivKey
	ListenAddrs []string        // multiaddrs; empty means "dial out only" (a box behind NAT)
	Bootstrap   []peer.AddrInfo // the OE bootstrap nodes (super nodes)

	// SuperNode makes this node a DHT server, relay and AutoNAT service that
	// considers itself publicly reachable.
	SuperNode bool
	// Relay limits the relay of a super node (zero: DefaultRelay).
	Relay RelayConfig
	// Private forces the node to consider itself unreachable, so it reserves
	// a slot on a bootstrap relay and is reached through it (tests and
	// boxes known to be behind NAT).
	Private bool
	// MDNS announces and finds boxes on the local network.
	MDNS bool
	// LoopbackOnly confines the node to 127.0.0.0/8 and ::1: it announces
	// and dials nothing else (devnet and tests).
	LoopbackOnly bool
	// MemoryLimit bounds the resource manager (default 128 MiB).
	MemoryLimit int64
	// RebootstrapEvery is how often the node checks that it is still
	// attached to a bootstrap node (default 2s).
	RebootstrapEvery time.Duration

	Logger *slog.Logger
}

// Node is a running libp2p host with the OE DHT.
type Node struct {
	Host host.Host
	DHT  *dht.IpfsDHT

	cfg  Config
	log  *slog.Logger
	mdns mdns.Service

	mu        sync.Mutex
	bootstrap peer.ID // the bootstrap node this box picked
	joined    bool
	joinedAt  time.Time

	// A private box holds a reservation on its bootstrap node and
	// announces the circuit addresses through it.
	relayAddrs   atomic.Pointer[[]ma.Multiaddr]
	relayExpires time.Time

	directNow, relayedNow, directTotal, relayedTotal atomic.Int64
}

// New starts a node.
func New(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.Key == nil {
		return nil, errors.New("p2p: no identity key")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MemoryLimit == 0 {
		cfg.MemoryLimit = 128 << 20
	}
	if cfg.RebootstrapEvery == 0 {
		cfg.RebootstrapEvery = 2 * time.Second
	}
	n := &Node{cfg: cfg, log: cfg.Logger}

	limits := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&limits)
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits.Scale(cfg.MemoryLimit, 1024)))
	if err != nil {
		return nil, fmt.Errorf("p2p: resource manager: %w", err)
	}
	cm, err := connmgr.NewConnManager(64, 192, connmgr.WithGracePeriod(time.Minute))
	if err != nil {
		return nil, err
	}
	opts := []libp2p.Option{
		libp2p.Identity(cfg.Key),
		libp2p.DefaultTransports,
		libp2p.Security(libp2ptls.ID, newBatchedTLS),
		libp2p.Security(noise.ID, noise.New),
		libp2p.DefaultMuxers,
		libp2p.ResourceManager(rm),
		libp2p.ConnectionManager(cm),
		libp2p.EnableHolePunching(),
		libp2p.EnableRelay(),
		libp2p.UserAgent("oepc"),
		libp2p.SwarmOpts(swarm.WithDialRanker(dialRanker)),
		libp2p.DisableMetrics(),
	}
	if len(cfg.ListenAddrs) == 0 {
		opts = append(opts, libp2p.NoListenAddrs)
	} else {
		opts = append(opts, libp2p.ListenAddrStrings(cfg.ListenAddrs...))
	}
	if cfg.LoopbackOnly {
		opts = append(opts, libp2p.ConnectionGater(loopbackGater{}))
	}
	opts = append(opts, libp2p.AddrsFactory(n.announceAddrs))
	if cfg.SuperNode {
		relayOpts := []relayv2.Option{relayv2.WithResources(cfg.Relay.resources())}
		if cfg.LoopbackOnly {
			// Reservations normally hand out only public addresses; on a
			// loopback network the super node's loopback address is the
			// one that works.
			relayOpts = append(relayOpts, relayv2.WithReservationAddressFilter(func(ma.Multiaddr) bool { return true }))
		}
		opts = append(opts,
			libp2p.ForceReachabilityPublic(),
			libp2p.EnableNATService(),
			libp2p.EnableRelayService(relayOpts...))
	} else if cfg.Private {
		// Not autorelay: it announces only public relay addresses, and
		// a private box's relay is simply the bootstrap node it picked.
		opts = append(opts, libp2p.ForceReachabilityPrivate())
	} else {
		opts = append(opts, libp2p.EnableAutoRelayWithStaticRelays(cfg.Bootstrap))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("p2p: host: %w", err)
	}
	n.Host = h
	h.Network().Notify(&network.NotifyBundle{
		ConnectedF:    func(_ network.Network, c network.Conn) { n.countConn(c, 1) },
		DisconnectedF: func(_ network.Network, c network.Conn) { n.countConn(c, -1) },
	})

	mode := dht.ModeAuto
	if cfg.SuperNode {
		mode = dht.ModeServer
	}
	n.DHT, err = dht.New(ctx, h,
		dht.ProtocolPrefix(DHTPrefix),
		dht.Mode(mode),
		dht.BootstrapPeers(cfg.Bootstrap...),
		dht.RoutingTableRefreshPeriod(time.Minute),
	)
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("p2p: dht: %w", err)
	}
	if cfg.MDNS {
		n.mdns = mdns.NewMdnsService(h, MDNSService, mdnsNotifee{n})
		if err := n.mdns.Start(); err != nil {
			n.Close()
			return nil, fmt.Errorf("p2p: mdns: %w", err)
		}
	}
	if cfg.SuperNode {
		n.log.Info("p2p node started", "peer", h.ID(), "addrs", h.Addrs(), "supernode", true, "relay", cfg.Relay.withDefaults())
	} else {
		n.log.Info("p2p node started", "peer", h.ID(), "addrs", h.Addrs(), "supernode", false)
	}
	return n, nil
}

// Close stops the node.
func (n *Node) Close() error {
	if n.mdns != nil {
		n.mdns.Close()
	}
	var errs []error
	if n.DHT != nil {
		errs = append(errs, n.DHT.Close())
	}
	errs = append(errs, n.Host.Close())
	return errors.Join(errs...)
}

// Run keeps the node attached to the network until ctx ends: it picks a
// random reachable bootstrap node, bootstraps the DHT, and picks again
// whenever the one it chose goes away.
func (n *Node) Run(ctx context.Context) error {
	if len(n.cfg.Bootstrap) == 0 {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(n.cfg.RebootstrapEvery)
	defer t.Stop()
	for {
		n.ensureBootstrap(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (n *Node) ensureBootstrap(ctx context.Context) {
	n.mu.Lock()
	cur := n.bootstrap
	n.mu.Unlock()
	if cur != "" && n.Host.Network().Connectedness(cur) == network.Connected && !n.alive(ctx, cur) {
		// A QUIC connection to a node that died stays "connected" until its
		// idle timeout; a failed ping tells sooner.
		n.log.Warn("bootstrap node stopped answering", "bootstrap", cur)
		n.Host.Network().ClosePeer(cur)
	}
	if cur != "" && n.Host.Network().Connectedness(cur) == network.Connected {
		if n.cfg.Private && time.Until(n.relayExpires) < 5*time.Minute {
			n.reserve(ctx, n.Host.Peerstore().PeerInfo(cur))
		}
		return
	}
	if cur != "" {
		n.log.Warn("lost bootstrap node, picking another", "bootstrap", cur)
	}
	// Random order, so boxes spread over the super nodes; the one that
	// just failed goes last.
	cands := slices.Clone(n.cfg.Bootstrap)
	rand.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
	slices.SortStableFunc(cands, func(a, b peer.AddrInfo) int {
		switch {
		case a.ID == cur && b.ID != cur:
			return 1
		case b.ID == cur && a.ID != cur:
			return -1
		}
		return 0
	})
	for _, ai := range cands {
		if ai.ID == n.Host.ID() {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := n.Host.Connect(cctx, ai)
		cancel()
		if err != nil {
			n.log.Debug("bootstrap node unreachable", "bootstrap", ai.ID, "err", err)
			continue
		}
		n.Host.ConnManager().Protect(ai.ID, "oe-bootstrap")
		if cur != "" && cur != ai.ID {
			n.Host.ConnManager().Unprotect(cur, "oe-bootstrap")
		}
		n.mu.Lock()
		n.bootstrap = ai.ID
		n.mu.Unlock()
		bctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		// The bootstrap node enters the routing table once identify has
		// told us it speaks the OE DHT; refreshing before that finds nobody.
		for n.DHT.RoutingTable().Size() == 0 && bctx.Err() == nil {
			time.Sleep(20 * time.Millisecond)
		}
		err = n.DHT.Bootstrap(bctx)
		if err == nil {
			// One refresh, so the routing table holds the network before
			// we call ourselves joined.
			select {
			case err = <-n.DHT.RefreshRoutingTable():
			case <-bctx.Done():
				err = bctx.Err()
			}
		}
		cancel()
		n.mu.Lock()
		if !n.joined {
			n.joined = true
			n.joinedAt = time.Now()
		}
		n.mu.Unlock()
		if n.cfg.Private {
			n.reserve(ctx, ai)
		}
		n.log.Info("attached to bootstrap node", "bootstrap", ai.ID, "dht_err", err, "routing_table", n.DHT.RoutingTable().Size())
		return
	}
	n.log.Warn("no bootstrap node reachable", "tried", len(cands))
}

// alive pings p, allowing a few seconds for an answer.
func (n *Node) alive(ctx context.Context, p peer.ID) bool {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	// Ping closes the channel without a result when ctx ends.
	res, ok := <-ping.Ping(ctx, n.Host, p)
	return ok && res.Error == nil
}

// reserve takes a slot on relay ai and announces the circuit addresses
// through it.
func (n *Node) reserve(ctx context.Context, ai peer.AddrInfo) {
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rsvp, err := relayclient.Reserve(rctx, n.Host, ai)
	if err != nil {
		n.log.Warn("relay reservation failed", "relay", ai.ID, "err", err)
		return
	}
	n.relayExpires = rsvp.Expiration
	circuit := ma.StringCast("/p2p/" + ai.ID.String() + "/p2p-circuit")
	var addrs []ma.Multiaddr
	for _, a := range n.Host.Peerstore().Addrs(ai.ID) {
		if _, err := a.ValueForProtocol(ma.P_CIRCUIT); err == nil {
			continue
		}
		addrs = append(addrs, a.Encapsulate(circuit))
	}
	n.relayAddrs.Store(&addrs)
	n.log.Info("reserved relay slot", "relay", ai.ID, "expires", rsvp.Expiration, "addrs", addrs)
}

// announceAddrs is the host's address factory: its listen addresses plus
// the circuit addresses of its reservation, confined to loopback when asked.
func (n *Node) announceAddrs(as []ma.Multiaddr) []ma.Multiaddr {
	if ra := n.relayAddrs.Load(); ra != nil {
		as = append(slices.Clone(as), *ra...)
	}
	if n.cfg.LoopbackOnly {
		as = slices.DeleteFunc(slices.Clone(as), func(a ma.Multiaddr) bool { return !isLoopbackOrCircuit(a) })
	}
	return as
}

// Connect reaches a peer: at the addresses already known, else at those the
// DHT finds. A relayed connection is upgraded to a direct one by hole
// punching where possible.
func (n *Node) Connect(ctx context.Context, p peer.ID) error {
	if n.Host.Network().Connectedness(p) == network.Connected {
		return nil
	}
	ai := n.Host.Peerstore().PeerInfo(p)
	if len(ai.Addrs) > 0 {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := n.Host.Connect(cctx, ai)
		cancel()
		if err == nil {
			return nil
		}
	}
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	found, err := n.DHT.FindPeer(fctx, p)
	if err != nil {
		return fmt.Errorf("p2p: find %s: %w", p, err)
	}
	return n.Host.Connect(fctx, found)
}

// FindPeer asks the DHT for a peer's addresses.
func (n *Node) FindPeer(ctx context.Context, p peer.ID) (peer.AddrInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return n.DHT.FindPeer(ctx, p)
}

// StreamContext lets a stream use a relayed (limited) connection: the OE
// protocols carry data over relays when no direct path exists.
func StreamContext(ctx context.Context) context.Context {
	return network.WithAllowLimitedConn(ctx, "oe")
}

func (n *Node) countConn(c network.Conn, delta int64) {
	if isRelayed(c) {
		n.relayedNow.Add(delta)
		if delta > 0 {
			n.relayedTotal.Add(1)
		}
	} else {
		n.directNow.Add(delta)
		if delta > 0 {
			n.directTotal.Add(1)
		}
	}
}

func isRelayed(c network.Conn) bool {
	if c.Stat().Limited {
		return true
	}
	_, err := c.RemoteMultiaddr().ValueForProtocol(ma.P_CIRCUIT)
	return err == nil
}

// PeerStatus describes one live connection.
type PeerStatus struct {
	ID      string `json:"id"`
	Addr    string `json:"addr"`
	Relayed bool   `json:"relayed"`
}

// Stats is the node's view of the network, for `oepc status`.
type Stats struct {
	PeerID       string       `json:"peer_id"`
	Addrs        []string     `json:"addrs"`
	Bootstrap    string       `json:"bootstrap,omitempty"`
	Joined       bool         `json:"joined"`
	JoinedAt     time.Time    `json:"joined_at,omitzero"`
	RoutingTable int          `json:"routing_table"`
	Peers        []PeerStatus `json:"peers"`
	Direct       int64        `json:"direct"`        // open direct connections
	Relayed      int64        `json:"relayed"`       // open relayed connections
	DirectTotal  int64        `json:"direct_total"`  // since start
	RelayedTotal int64        `json:"relayed_total"` // since start
	DirectRatio  float64      `json:"direct_ratio"`  // direct_total / all, 1 when none yet
}

// Stats reports the node's addresses, peers and connection counts.
func (n *Node) Stats() Stats {
	n.mu.Lock()
	s := Stats{Bootstrap: string(n.bootstrap), Joined: n.joined, JoinedAt: n.joinedAt}
	n.mu.Unlock()
	if s.Bootstrap != "" {
		s.Bootstrap = peer.ID(s.Bootstrap).String()
	}
	s.PeerID = n.Host.ID().String()
	for _, a := range n.Host.Addrs() {
		s.Addrs = append(s.Addrs, a.String())
	}
	s.RoutingTable = n.DHT.RoutingTable().Size()
	for _, c := range n.Host.Network().Conns() {
		s.Peers = append(s.Peers, PeerStatus{ID: c.RemotePeer().String(), Addr: c.RemoteMultiaddr().String(), Relayed: isRelayed(c)})
	}
	slices.SortFunc(s.Peers, func(a, b PeerStatus) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	s.Direct, s.Relayed = n.directNow.Load(), n.relayedNow.Load()
	s.DirectTotal, s.RelayedTotal = n.directTotal.Load(), n.relayedTotal.Load()
	s.DirectRatio = 1
	if all := s.DirectTotal + s.RelayedTotal; all > 0 {
		s.DirectRatio = float64(s.DirectTotal) / float64(all)
	}
	return s
}

// P2PAddrs returns the node's addresses with its /p2p/ID suffix, the form
// other nodes bootstrap from.
func (n *Node) P2PAddrs() []ma.Multiaddr {
	out, _ := peer.AddrInfoToP2pAddrs(&peer.AddrInfo{ID: n.Host.ID(), Addrs: n.Host.Addrs()})
	return out
}

// ParseAddrInfos parses multiaddrs carrying /p2p/ID into peer infos, merging
// addresses of the same peer.
func ParseAddrInfos(addrs []string) ([]peer.AddrInfo, error) {
	var mas []ma.Multiaddr
	for _, s := range addrs {
		if s == "" {
			continue
		}
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("p2p: bad address %q: %w", s, err)
		}
		mas = append(mas, a)
	}
	infos, err := peer.AddrInfosFromP2pAddrs(mas...)
	if err != nil {
		return nil, fmt.Errorf("p2p: %w", err)
	}
	return infos, nil
}

type mdnsNotifee struct{ n *Node }

// HandlePeerFound connects to a box found on the LAN. mDNS reports a find
// once, so a connect that fails on a busy box is tried again (five times,
// 1 s doubling to 16 s) rather than waiting for the next announcement. The
// other box's loopback addresses are dropped: dialled here they reach this
// box itself.
func (m mdnsNotifee) HandlePeerFound(ai peer.AddrInfo) {
	if ai.ID == m.n.Host.ID() {
		return
	}
	ai.Addrs = slices.DeleteFunc(slices.Clone(ai.Addrs), isLoopbackOrCircuit)
	if len(ai.Addrs) == 0 {
		return
	}
	m.n.Host.Peerstore().AddAddrs(ai.ID, ai.Addrs, time.Hour)
	m.n.log.Info("found box on local network", "peer", ai.ID, "addrs", ai.Addrs)
	wait := time.Second
	for try := 1; ; try++ {
		if m.n.Host.Network().Connectedness(ai.ID) == network.Connected {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := m.n.Host.Connect(ctx, ai)
		cancel()
		if err == nil {
			return
		}
		if try == 5 || errors.Is(err, swarm.ErrSwarmClosed) {
			m.n.log.Warn("could not connect to a box on the local network", "peer", ai.ID, "tries", try, "err", err)
			return
		}
		time.Sleep(wait)
		wait *= 2
	}
}

func isLoopbackOrCircuit(a ma.Multiaddr) bool {
	if _, err := a.ValueForProtocol(ma.P_CIRCUIT); err == nil {
		// A circuit address is as good as the relay address it starts with.
		first, _ := ma.SplitFirst(a)
		if first == nil {
			return false
		}
		return isLoopbackOrCircuit(ma.Multiaddr{*first})
	}
	ip, err := manet.ToIP(a)
	if err != nil {
		return false
	}
	return ip.IsLoopback()
}

// loopbackGater refuses every dial and accept that is not on loopback: a
// devnet or test node never touches a real interface.
type loopbackGater struct{}

func (loopbackGater) InterceptPeerDial(peer.ID) bool { return true }
func (loopbackGater) InterceptAddrDial(_ peer.ID, a ma.Multiaddr) bool {
	return isLoopbackOrCircuit(a)
}
func (loopbackGater) InterceptAccept(cm network.ConnMultiaddrs) bool {
	return isLoopbackOrCircuit(cm.RemoteMultiaddr())
}
func (loopbackGater) InterceptSecured(network.Direction, peer.ID, network.ConnMultiaddrs) bool {
	return true
}
func (loopbackGater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) {
	return true, 0
}

// Provide announces in the DHT that this node holds key (a shard, an invite
// rendezvous).
func (n *Node) Provide(ctx context.Context, key cid.Cid) error {
	return n.DHT.Provide(ctx, key, true)
}

// FindProviders asks the DHT which nodes hold key.
func (n *Node) FindProviders(ctx context.Context, key cid.Cid) ([]peer.AddrInfo, error) {
	return n.DHT.FindProviders(ctx, key)
}

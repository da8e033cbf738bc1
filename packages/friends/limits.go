package friends

import (
	"net"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// What a stranger (a peer that is not a friend) may cost the box. A real
// accept sends its one message as soon as the stream opens, so a short
// first-message deadline costs it nothing and frees a silent stranger's slot
// quickly; per-address limits keep one address (peer IDs cost nothing to
// make) from holding every slot or every guess.
const (
	firstMsgTimeout     = 3 * time.Second
	answerTimeout       = 5 * time.Second
	maxStrangers        = 8  // concurrent streams from strangers
	maxStrangersPerAddr = 2  // of which from one address
	maxFriendStreams    = 4  // concurrent streams from friends, apart from strangers'
	maxAddrFailures     = 20 // failed accepts per address per window (a household or a carrier NAT shares one)
	maxTracked          = 4096
)

// failureCounter counts failed accepts per key within a window, keeping at
// most maxTracked keys and at most limit times per key: an attacker making
// new keys evicts the oldest records, never grows the map.
type failureCounter struct {
	limit  int
	window time.Duration
	m      map[string][]time.Time
}

func newFailureCounter(limit int, window time.Duration) *failureCounter {
	return &failureCounter{limit: limit, window: window, m: map[string][]time.Time{}}
}

// over reports whether key has reached the limit.
func (c *failureCounter) over(key string, now time.Time) bool {
	return len(c.prune(key, now)) >= c.limit
}

// add records one failure of key.
func (c *failureCounter) add(key string, now time.Time) {
	fs := c.prune(key, now)
	if fs == nil && len(c.m) >= maxTracked {
		c.makeRoom(now)
	}
	fs = append(fs, now)
	if len(fs) > c.limit {
		fs = fs[len(fs)-c.limit:]
	}
	c.m[key] = fs
}

func (c *failureCounter) prune(key string, now time.Time) []time.Time {
	fs := c.m[key]
	i := 0
	for i < len(fs) && now.Sub(fs[i]) > c.window {
		i++
	}
	fs = fs[i:]
	if len(fs) == 0 {
		delete(c.m, key)
		return nil
	}
	c.m[key] = fs
	return fs
}

// makeRoom drops expired keys and, if none expired, the key whose last
// failure is oldest.
func (c *failureCounter) makeRoom(now time.Time) {
	var oldest string
	var oldestAt time.Time
	for k, fs := range c.m {
		last := fs[len(fs)-1]
		if now.Sub(last) > c.window {
			delete(c.m, k)
			continue
		}
		if oldest == "" || last.Before(oldestAt) {
			oldest, oldestAt = k, last
		}
	}
	if len(c.m) >= maxTracked {
		delete(c.m, oldest)
	}
}

// addrKey is the address a stranger p is counted under: its IP (an IPv6
// /64, what one household gets). Over a relay its address is unknown, and
// counting every peer of a relay under one key would let one stranger lock
// out everyone who comes through that relay (every acceptor of a box behind
// NAT), so a relayed stranger is counted by relay and peer ID; the relay
// itself bounds how many circuits reach this box at once.
func addrKey(a ma.Multiaddr, p peer.ID) string {
	if a == nil {
		return "unknown " + p.String()
	}
	if _, err := a.ValueForProtocol(ma.P_CIRCUIT); err == nil {
		relay, _ := a.ValueForProtocol(ma.P_P2P)
		return "relay " + relay + " " + p.String()
	}
	ip, err := manet.ToIP(a)
	if err != nil {
		return a.String()
	}
	if ip4 := ip.To4(); ip4 != nil {
		return ip4.String()
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

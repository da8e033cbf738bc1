package cloud

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// Friend-to-friend protocols. Every handler refuses a peer that is not a
// friend before reading anything from it, and bounds what one friend may
// have open at once. (2.0.0: packages/wire framing; a delivery waits for
// the receiver's go-ahead before its body.)
const (
	ProtoDeliver protocol.ID = "/oe/deliver/2.0.0"
	ProtoShare   protocol.ID = "/oe/share/2.0.0"
	ProtoRoot    protocol.ID = "/oe/cloud-root/2.0.0"
)

// ReceivedDir is where delivered files land.
const ReceivedDir = "/Received"

// idleTimeout fails a transfer that stalls this long.
const idleTimeout = 60 * time.Second

// Streams one friend may have open at once, per protocol. A get of a
// shared file whose holders refuse the friend asks the owner for every
// shard: GetInFlight segments of k shards, hedges included.
const (
	deliverPerFriend = 2
	sharePerFriend   = 16
	rootPerFriend    = 2
	// A share request above smallShareMsg (only an offer, which carries a
	// manifest of up to 64 MiB) needs one of few large slots: one per
	// friend, bigShareSlots in all.
	smallShareMsg = 64 << 10
	bigShareSlots = 4
	// Strangers are answered (so that a removed or blocked friend learns
	// why) while at most maxRefusing refusals are under way; beyond, their
	// streams are reset.
	maxRefusing = 32
)

// friendProtos is the state of the friend protocols' limits.
type friendProtos struct {
	deliver, share, root *perFriend
	shareBig             *perFriend
	bigSlots             chan struct{}
	refusing             chan struct{}
	inbox                inbox
}

func newFriendProtos() *friendProtos {
	return &friendProtos{
		deliver:  newPerFriend(deliverPerFriend),
		share:    newPerFriend(sharePerFriend),
		root:     newPerFriend(rootPerFriend),
		shareBig: newPerFriend(1),
		bigSlots: make(chan struct{}, bigShareSlots),
		refusing: make(chan struct{}, maxRefusing),
		inbox:    inbox{inflight: map[peer.ID]*inflight{}},
	}
}

func (s *Service) registerProtocols() {
	h := s.cfg.Host
	h.SetStreamHandler(ProtoDeliver, s.friendsOnly(s.fp.deliver, s.handleDeliver))
	h.SetStreamHandler(ProtoShare, s.friendsOnly(s.fp.share, s.handleShare))
	h.SetStreamHandler(ProtoRoot, s.friendsOnly(s.fp.root, s.handleRoot))
}

func (s *Service) unregisterProtocols() {
	for _, p := range []protocol.ID{ProtoDeliver, ProtoShare, ProtoRoot} {
		s.cfg.Host.RemoveStreamHandler(p)
	}
}

type reply struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	Path  string `json:"path,omitempty"`
}

// Refusals, as the peer reads them.
const (
	msgNotFriend = "not a friend: it has removed or blocked you, or never befriended you"
	msgBusy      = "busy: too many requests from you at once; retry later"
)

// friendsOnly serves friends, at most lim's share at once each. The
// handler ends the stream itself (answer, refuse, endStream) or resets it.
func (s *Service) friendsOnly(lim *perFriend, h func(network.Stream)) network.StreamHandler {
	return func(st network.Stream) {
		p := st.Conn().RemotePeer()
		if !s.cfg.IsFriend(p) {
			// Debug: a stranger must not be able to flood the log.
			s.log.Debug("refused a stranger", "peer", p, "protocol", st.Protocol())
			select {
			case s.fp.refusing <- struct{}{}:
				refuse(st, msgNotFriend)
				<-s.fp.refusing
			default:
				st.Reset()
			}
			return
		}
		if !lim.admit(p) {
			s.log.Info("friend over its stream limit", "peer", p, "protocol", st.Protocol())
			refuse(st, msgBusy)
			return
		}
		defer lim.leave(p)
		h(st)
	}
}

func (s *Service) open(ctx context.Context, p peer.ID, proto protocol.ID) (network.Stream, error) {
	if s.cfg.Host == nil {
		return nil, errors.New("cloud: no network host")
	}
	if !s.cfg.IsFriend(p) {
		return nil, fmt.Errorf("cloud: %s is not a friend", p)
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	st, err := s.cfg.Host.NewStream(cctx, p, proto)
	if err != nil {
		return nil, fmt.Errorf("cloud: reaching %s: %w", p, err)
	}
	return st, nil
}

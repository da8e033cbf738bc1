package box

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Redial back-off: a friend that is not connected is dialled at once,
// then after 3 s, doubling up to 5 min while it stays away. A dial may
// cost a DHT lookup; a box whose friends are off for the night should
// not run one per friend every few seconds.
const (
	redialBase = 3 * time.Second
	redialMax  = 5 * time.Minute
)

// redialer keeps the dial schedule of each friend that is not connected.
type redialer struct {
	base, max time.Duration
	now       func() time.Time
	rand      func() float64 // in [0, 1)

	mu    sync.Mutex
	peers map[peer.ID]redialState
}

type redialState struct {
	delay time.Duration // the last wait, before jitter
	next  time.Time
}

func newRedialer() *redialer {
	return &redialer{base: redialBase, max: redialMax, now: time.Now, rand: rand.Float64, peers: map[peer.ID]redialState{}}
}

// due reports whether p should be dialled now.
func (r *redialer) due(p peer.ID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, ok := r.peers[p]
	return !ok || !r.now().Before(st.next)
}

// failed schedules the next dial of p and returns the wait: twice the
// last (base at first, at most max), less up to a quarter at random so
// that friends that went away together are not dialled in step.
func (r *redialer) failed(p peer.ID) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.peers[p]
	st.delay = min(r.max, max(r.base, 2*st.delay))
	wait := st.delay - time.Duration(r.rand()*float64(st.delay/4))
	st.next = r.now().Add(wait)
	r.peers[p] = st
	return wait
}

// reset forgets p's back-off: it is connected (we reached it, or it
// reached us), so the next time it goes away it is dialled at once.
func (r *redialer) reset(p peer.ID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.peers, p)
}

// keep drops the schedules of peers that are no longer friends.
func (r *redialer) keep(friends []peer.ID) {
	set := make(map[peer.ID]bool, len(friends))
	for _, p := range friends {
		set[p] = true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for p := range r.peers {
		if !set[p] {
			delete(r.peers, p)
		}
	}
}

// keepFriendsConnected dials friends that are not connected (at their last
// known addresses, else through the DHT) on the redialer's schedule.
func (b *Box) keepFriendsConnected(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	connected := func(p peer.ID) bool { return b.Node.Host.Network().Connectedness(p) == network.Connected }
	for {
		b.redialPass(ctx, b.Friends.Peers(), connected, b.Node.Connect)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// redialPass dials, one after another, the friends that are not connected
// and are due.
func (b *Box) redialPass(ctx context.Context, friends []peer.ID, connected func(peer.ID) bool, dial func(context.Context, peer.ID) error) {
	b.redial.keep(friends)
	for _, p := range friends {
		if ctx.Err() != nil {
			return
		}
		if connected(p) {
			b.redial.reset(p)
			continue
		}
		if !b.redial.due(p) {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := dial(cctx, p)
		cancel()
		if err != nil {
			b.Log.Debug("friend unreachable", "peer", p, "err", err, "retry_in", b.redial.failed(p))
			continue
		}
		b.redial.reset(p)
	}
}

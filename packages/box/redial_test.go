package box

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// A friend that stays offline is dialled on an exponential schedule up to
// a cap, not every pass; the schedule restarts once it is connected
// (issue 9, item 14).
func TestRedialBacksOff(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start
	r := newRedialer()
	r.now = func() time.Time { return now }
	r.rand = func() float64 { return 0 }
	b := &Box{Log: slog.New(slog.DiscardHandler), redial: r}

	const away, back = peer.ID("away"), peer.ID("back")
	isUp := map[peer.ID]bool{}
	var dials []time.Duration // offsets of the dials of away
	dial := func(_ context.Context, p peer.ID) error {
		if _, ok := isUp[p]; !ok {
			t.Fatalf("dialled %s", p)
		}
		if p == away {
			dials = append(dials, now.Sub(start))
		}
		if isUp[p] {
			return nil
		}
		return errors.New("offline")
	}
	connected := func(p peer.ID) bool { return false }
	isUp[away], isUp[back] = false, true
	// Half an hour of passes, one a second (as keepFriendsConnected runs).
	for ; now.Sub(start) < 30*time.Minute; now = now.Add(time.Second) {
		b.redialPass(context.Background(), []peer.ID{away, back}, connected, dial)
	}
	s := time.Second
	want := []time.Duration{0, 3 * s, 9 * s, 21 * s, 45 * s, 93 * s, 189 * s, 381 * s, 681 * s, 981 * s, 1281 * s, 1581 * s}
	if !slices.Equal(dials, want) {
		t.Fatalf("dials of an offline friend at %v,\nwant %v", dials, want)
	}

	// It connects to us: the back-off is forgotten, so when it goes
	// away again it is dialled at once, then after 3 s.
	b.redialPass(context.Background(), []peer.ID{away}, func(peer.ID) bool { return true }, dial)
	dials = nil
	t0 := now
	for end := now.Add(10 * time.Second); now.Before(end); now = now.Add(time.Second) {
		b.redialPass(context.Background(), []peer.ID{away}, connected, dial)
	}
	if want := []time.Duration{t0.Sub(start), t0.Sub(start) + 3*s, t0.Sub(start) + 9*s}; !slices.Equal(dials, want) {
		t.Fatalf("dials after a reconnection at %v, want %v", dials, want)
	}

	// A successful dial resets too.
	isUp[away] = true
	now = now.Add(time.Minute)
	b.redialPass(context.Background(), []peer.ID{away}, connected, dial)
	if !r.due(away) {
		t.Fatal("a friend just reached is not due at once the next time it is away")
	}
	if w := r.failed(away); w != redialBase {
		t.Fatalf("first wait after a successful dial %s, want %s", w, redialBase)
	}
}

// The jitter only shortens a wait, by up to a quarter, so the cap holds
// and friends that went away together spread out.
func TestRedialJitter(t *testing.T) {
	r := newRedialer()
	seen := map[time.Duration]bool{}
	for i := range 200 {
		p := peer.ID(rune('a' + i%26))
		r.reset(p)
		var w time.Duration
		for range 20 {
			w = r.failed(p)
		}
		if w < 3*redialMax/4 || w > redialMax {
			t.Fatalf("capped wait %s outside [%s, %s]", w, 3*redialMax/4, redialMax)
		}
		seen[w] = true
	}
	if len(seen) < 50 {
		t.Fatalf("only %d distinct waits in 200: no jitter", len(seen))
	}
}

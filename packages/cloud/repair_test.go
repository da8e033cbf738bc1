package cloud

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"oepc.dev/oepcos/packages/cloud/index"
)

// fakeClock is a settable Config.Clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// holdersOf lists the holder of every shard of segment i.
func holdersOf(t *testing.T, s *Service, ref string, i int) []peer.ID {
	t.Helper()
	man, err := s.Manifest(ref)
	if err != nil {
		t.Fatal(err)
	}
	var out []peer.ID
	for _, r := range man.Segments[i].Shards {
		out = append(out, r.Holder)
	}
	return out
}

func holds(t *testing.T, s *Service, ref string, p peer.ID) (segs []int) {
	t.Helper()
	man, _ := s.Manifest(ref)
	for i, sg := range man.Segments {
		for _, r := range sg.Shards {
			if r.Holder == p {
				segs = append(segs, i)
			}
		}
	}
	return segs
}

func (e *testEnv) repair(t *testing.T) RepairReport {
	t.Helper()
	rep, err := e.s.RepairAll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// A holder that is away for a while is not a lost box: its shards stay
// where they are until it has been away for the grace period, unless the
// segment falls below the repair threshold (issue 9, item 12).
func TestRepairThresholdAndAbsence(t *testing.T) {
	clk := newFakeClock()
	e := newEnv(t, 10, func(c *Config) { c.Clock = clk.now })
	data := randBytes(12*seg + 5)
	e.put(t, "/f", data, PutOptions{})

	// a and b hold shards of segment 0; some segments have one of them,
	// some neither.
	seg0 := holdersOf(t, e.s, "/f", 0)
	a, b := seg0[0], peer.ID("")
	for _, p := range seg0[1:] {
		var one, none bool
		man, _ := e.s.Manifest("/f")
		for _, sg := range man.Segments {
			n := 0
			for _, r := range sg.Shards {
				if r.Holder == a || r.Holder == p {
					n++
				}
			}
			one, none = one || n == 1, none || n == 0
		}
		if one && none {
			b = p
			break
		}
	}
	if b == "" {
		t.Fatal("placement gives no pair of holders for the test")
	}
	// a goes offline.
	e.f.Set(func() { e.f.Down[a] = true })
	for _, d := range []time.Duration{0, 10 * time.Minute, 6 * time.Hour} {
		clk.advance(d)
		if rep := e.repair(t); rep.Repaired != 0 || rep.Failed != 0 {
			t.Fatalf("after %s of absence of one holder: %+v, want no repair", d, rep)
		}
	}
	aSegs := holds(t, e.s, "/f", a)
	if !slices.Contains(aSegs, 0) {
		t.Fatalf("the absent holder's shards were moved: it now holds segments %v", aSegs)
	}
	h, _ := e.s.Health(context.Background(), "/f")
	if st := h.Segments[0].Shards[0].State; st != StateUnreachable || h.Complete || !h.Readable {
		t.Fatalf("health with one holder away: state %s, complete %v, readable %v", st, h.Complete, h.Readable)
	}

	// A shard missing on a reachable holder is repaired at once, and only
	// that one: the absent holder keeps its shards.
	man, _ := e.s.Manifest("/f")
	other := -1
	for i, sg := range man.Segments {
		if !slices.ContainsFunc(sg.Shards, func(r index.ShardRef) bool { return r.Holder == a || r.Holder == b }) {
			other = i
			break
		}
	}
	if other < 0 {
		t.Fatal("no segment without a and b")
	}
	c := man.Segments[other].Shards[2]
	e.f.Set(func() { delete(e.f.Boxes[c.Holder], c.ID) })
	if rep := e.repair(t); rep.Repaired != 1 {
		t.Fatalf("missing shard on a reachable holder: %+v, want 1 repaired", rep)
	}
	if now := holdersOf(t, e.s, "/f", other)[2]; now == c.Holder {
		t.Fatal("the missing shard was not re-placed")
	}
	if segs := holds(t, e.s, "/f", a); !slices.Equal(segs, aSegs) {
		t.Fatalf("the absent holder now holds segments %v, had %v", segs, aSegs)
	}

	// A second holder of segment 0 goes offline: the segment is below the
	// threshold (k+1 = 5 for 4+2) and both absent shards are rebuilt now;
	// segments that lost only one holder still wait.
	e.f.Set(func() { e.f.Down[b] = true })
	clk.advance(time.Minute)
	e.repair(t)
	if now := holdersOf(t, e.s, "/f", 0); slices.Contains(now, a) || slices.Contains(now, b) {
		t.Fatalf("segment 0 below the threshold not repaired: holders %v", now)
	}
	man, _ = e.s.Manifest("/f")
	for i, sg := range man.Segments {
		var ha, hb bool
		for _, r := range sg.Shards {
			ha, hb = ha || r.Holder == a, hb || r.Holder == b
		}
		if ha && hb {
			t.Fatalf("segment %d still has both absent holders", i)
		}
	}
	if len(holds(t, e.s, "/f", a))+len(holds(t, e.s, "/f", b)) == 0 {
		t.Fatal("every shard of the absent holders moved; want only those of segments below the threshold")
	}

	// b comes back; a stays away past the grace period: a is a lost box
	// and its shards are re-placed.
	e.f.Set(func() { e.f.Down[b] = false })
	clk.advance(24 * time.Hour)
	e.repair(t)
	if segs := holds(t, e.s, "/f", a); len(segs) != 0 {
		t.Fatalf("a holder away for over a day still holds segments %v", segs)
	}
	h, _ = e.s.Health(context.Background(), "/f")
	if !h.Complete {
		t.Fatalf("not complete after the long absence was repaired: min healthy %d", h.MinHealthy)
	}
	if !bytes.Equal(e.get(t, "/f"), data) {
		t.Fatal("differs")
	}
}

// An absence ends when the holder answers: a holder away for a while, back,
// then away again starts a new grace period.
func TestAbsenceEndsWhenHolderAnswers(t *testing.T) {
	clk := newFakeClock()
	e := newEnv(t, 8, func(c *Config) { c.Clock = clk.now })
	e.put(t, "/f", randBytes(3*seg), PutOptions{})
	a := holdersOf(t, e.s, "/f", 0)[0]
	e.f.Set(func() { e.f.Down[a] = true })
	e.repair(t)
	clk.advance(20 * time.Hour)
	e.f.Set(func() { e.f.Down[a] = false })
	e.repair(t)
	e.f.Set(func() { e.f.Down[a] = true })
	e.repair(t)
	clk.advance(20 * time.Hour)
	if rep := e.repair(t); rep.Repaired != 0 {
		t.Fatalf("absence not reset when the holder answered: %+v", rep)
	}
	// The absence is kept in the database: a restarted service remembers it.
	s2, err := New(e.s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	clk.advance(5 * time.Hour) // 25 h since the absence began, before the restart
	if rep, err := s2.RepairAll(context.Background()); err != nil || rep.Repaired == 0 {
		t.Fatalf("after a restart and 25 h of absence: %+v, %v; want a repair", rep, err)
	}
}

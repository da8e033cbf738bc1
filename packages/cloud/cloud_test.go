package cloud

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"oepc.dev/oepcos/packages/cloud/codec"
	"oepc.dev/oepcos/packages/cloud/index"
	"oepc.dev/oepcos/packages/cloud/keys"
)

const seg = codec.MinSegmentSize

func TestPutGetSizes(t *testing.T) {
	e := newEnv(t, 6, nil)
	for _, n := range []int{0, 1, seg - 17, seg - 16, seg - 1, seg, seg + 1, 5*seg + 123, 20 * seg} {
		data := randBytes(n)
		ent := e.put(t, "/sizes/f", data, PutOptions{})
		if ent.Size != int64(n) {
			t.Fatalf("size %d != %d", ent.Size, n)
		}
		if got := e.get(t, "/sizes/f"); !bytes.Equal(got, data) {
			t.Fatalf("size %d: round trip differs", n)
		}
		if got := e.get(t, ent.File.String()); !bytes.Equal(got, data) {
			t.Fatalf("size %d: get by ID differs", n)
		}
		man, _ := e.s.Manifest("/sizes/f")
		for i, sg := range man.Segments {
			seen := map[peer.ID]bool{}
			for _, r := range sg.Shards {
				if seen[r.Holder] {
					t.Fatalf("segment %d: two shards on %s", i, r.Holder)
				}
				seen[r.Holder] = true
			}
		}
	}
	// Replacing the file removed the old shards: one file of 20 segments.
	if got, want := e.f.Count(), 20*6; got != want {
		t.Fatalf("%d shards on holders, want %d", got, want)
	}
}

func TestGetLosingMHolders(t *testing.T) {
	e := newEnv(t, 6, nil)
	data := randBytes(7*seg + 5)
	e.put(t, "/a", data, PutOptions{})
	e.f.Set(func() { e.f.Down[e.peers[0]] = true; e.f.Down[e.peers[3]] = true })
	if got := e.get(t, "/a"); !bytes.Equal(got, data) {
		t.Fatal("differs")
	}
	e.f.Set(func() { e.f.Down[e.peers[5]] = true })
	if _, err := e.s.Get(context.Background(), "/a", new(bytes.Buffer)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("3 of 6 down: %v", err)
	}
}

func TestCustomKM(t *testing.T) {
	e := newEnv(t, 10, nil)
	data := randBytes(3*seg + 1)
	ent := e.put(t, "/km", data, PutOptions{K: 6, M: 3})
	if ent.K != 6 || ent.M != 3 {
		t.Fatal(ent)
	}
	e.f.Set(func() {
		for _, p := range e.peers[:3] {
			e.f.Down[p] = true
		}
	})
	if !bytes.Equal(e.get(t, "/km"), data) {
		t.Fatal("differs")
	}
}

func TestTooFewBoxes(t *testing.T) {
	e := newEnv(t, 4, nil)
	_, err := e.s.Put(context.Background(), "/x", bytes.NewReader([]byte("hi")), PutOptions{})
	if !errors.Is(err, ErrTooFewBoxes) || !strings.Contains(err.Error(), "force") {
		t.Fatalf("got %v", err)
	}
	data := randBytes(2 * seg)
	e.put(t, "/x", data, PutOptions{Force: true})
	if !bytes.Equal(e.get(t, "/x"), data) {
		t.Fatal("differs")
	}
}

func TestHolderFailsMidPut(t *testing.T) {
	e := newEnv(t, 8, nil)
	e.f.Set(func() { e.f.PutsLeft[e.peers[1]] = 2 })
	data := randBytes(10 * seg)
	e.put(t, "/f", data, PutOptions{})
	man, _ := e.s.Manifest("/f")
	n := 0
	for _, sg := range man.Segments {
		for _, r := range sg.Shards {
			if r.Holder == e.peers[1] {
				n++
			}
		}
	}
	if n > 2 {
		t.Fatalf("%d shards recorded on the full box", n)
	}
	if !bytes.Equal(e.get(t, "/f"), data) {
		t.Fatal("differs")
	}
}

func TestFailedPutLeavesNothing(t *testing.T) {
	e := newEnv(t, 6, nil)
	// Box 2 fills after 3 shards and there is no seventh box to move to.
	e.f.Set(func() { e.f.PutsLeft[e.peers[2]] = 3 })
	_, err := e.s.Put(context.Background(), "/big", bytes.NewReader(randBytes(12*seg)), PutOptions{})
	if !errors.Is(err, ErrTooFewBoxes) {
		t.Fatalf("got %v", err)
	}
	if n := e.f.Count(); n != 0 {
		t.Fatalf("%d shards left behind", n)
	}
	if _, err := e.s.Stat("/big"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("manifest left: %v", err)
	}
	n := 0
	e.kv.Scan([]byte("cloud/"), func(k, v []byte) error {
		if !strings.HasPrefix(string(k), "cloud/owner") {
			t.Errorf("key left: %s", k)
		}
		n++
		return nil
	})
}

func TestCancelledPutLeavesNothing(t *testing.T) {
	e := newEnv(t, 6, nil)
	ctx, cancel := context.WithCancel(context.Background())
	r := &cancelAfter{n: 5 * seg, cancel: cancel}
	if _, err := e.s.Put(ctx, "/c", r, PutOptions{}); err == nil {
		t.Fatal("put succeeded")
	}
	if n := e.f.Count(); n != 0 {
		t.Fatalf("%d shards left behind", n)
	}
}

// cancelAfter yields n random bytes, then cancels the put and blocks on
// nothing: further reads return data forever.
type cancelAfter struct {
	n      int
	cancel func()
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	if c.n <= 0 {
		c.cancel()
	}
	c.n -= len(p)
	return len(p), nil
}

func TestCorruptShardDetectedAndRepaired(t *testing.T) {
	e := newEnv(t, 7, nil)
	data := randBytes(4 * seg)
	e.put(t, "/c", data, PutOptions{})
	man, _ := e.s.Manifest("/c")
	victim := man.Segments[0].Shards[0]
	e.f.Set(func() { e.f.Boxes[victim.Holder][victim.ID][10] ^= 0xff })
	// Make the victim the fastest holder so it is asked first: its average
	// falls to exactly zero, every other holder's stays above (segment 0 is
	// fetched first, before any other answer moves the averages).
	for range 100 {
		e.s.stats.ok(victim.Holder, 0)
	}
	if !bytes.Equal(e.get(t, "/c"), data) {
		t.Fatal("differs")
	}
	h, err := e.s.Health(context.Background(), "/c")
	if err != nil {
		t.Fatal(err)
	}
	if st := h.Segments[0].Shards[0].State; st != StateCorrupt {
		t.Fatalf("state %s", st)
	}
	rep, err := e.s.RepairAll(context.Background())
	if err != nil || rep.Repaired != 1 {
		t.Fatalf("%+v %v", rep, err)
	}
	h, _ = e.s.Health(context.Background(), "/c")
	if !h.Complete {
		t.Fatalf("not complete after repair: %+v", h.Segments[0])
	}
	man, _ = e.s.Manifest("/c")
	if man.Segments[0].Shards[0].Holder == victim.Holder {
		t.Fatal("repaired shard left on the corrupting box")
	}
}

func TestRepairAfterBoxLost(t *testing.T) {
	clk := newFakeClock()
	e := newEnv(t, 8, func(c *Config) { c.Clock = clk.now })
	data := randBytes(9*seg + 7)
	e.put(t, "/r", data, PutOptions{})
	e.put(t, "/s", randBytes(10), PutOptions{})
	dead := e.peers[2]
	e.f.Set(func() { e.f.Down[dead] = true })
	h, _ := e.s.Health(context.Background(), "/r")
	if h.Complete || !h.Readable {
		t.Fatalf("%+v", h)
	}
	clk.advance(25 * time.Hour) // away past the grace period: lost
	if _, err := e.s.RepairAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"/r", "/s"} {
		h, _ = e.s.Health(context.Background(), f)
		if !h.Complete {
			t.Fatalf("%s not complete: %+v", f, h)
		}
		man, _ := e.s.Manifest(f)
		for _, sg := range man.Segments {
			seen := map[peer.ID]bool{}
			for _, r := range sg.Shards {
				if r.Holder == dead || seen[r.Holder] {
					t.Fatalf("bad placement after repair: %v", sg.Shards)
				}
				seen[r.Holder] = true
			}
		}
	}
	e.f.Set(func() { e.f.Down[e.peers[0]] = true; e.f.Down[e.peers[1]] = true })
	if !bytes.Equal(e.get(t, "/r"), data) {
		t.Fatal("differs")
	}
}

func TestWrongOwnerKey(t *testing.T) {
	e := newEnv(t, 6, nil)
	e.put(t, "/k", []byte("secret"), PutOptions{})
	e.s.owner.Store(keys.New())
	_, err := e.s.Get(context.Background(), "/k", new(bytes.Buffer))
	if err == nil || !strings.Contains(err.Error(), "unwrap") {
		t.Fatalf("got %v", err)
	}
}

func TestNoKey(t *testing.T) {
	e := newEnv(t, 6, func(c *Config) { c.Owner = nil })
	if _, err := e.s.Put(context.Background(), "/k", strings.NewReader("x"), PutOptions{}); !errors.Is(err, ErrNoKey) {
		t.Fatalf("got %v", err)
	}
	phrase, err := e.s.Setup()
	if err != nil || len(strings.Fields(phrase)) != keys.Words {
		t.Fatal(phrase, err)
	}
	if _, err := e.s.Setup(); !errors.Is(err, ErrExists) {
		t.Fatalf("second setup: %v", err)
	}
	e.put(t, "/k", []byte("x"), PutOptions{})
	// The key survives a restart (loaded from the KV).
	s2, err := New(Config{Holders: e.f, Peers: e.s.cfg.Peers, KV: e.kv, SegmentSize: seg})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := s2.Get(context.Background(), "/k", &b); err != nil || b.String() != "x" {
		t.Fatal(err)
	}
}

func TestIndexOps(t *testing.T) {
	e := newEnv(t, 6, nil)
	e.put(t, "/docs/a.txt", []byte("a"), PutOptions{})
	e.put(t, "/docs/sub/b.txt", []byte("b"), PutOptions{})
	e.put(t, "/top.txt", []byte("t"), PutOptions{})
	if err := e.s.Mkdir("/empty"); err != nil {
		t.Fatal(err)
	}
	names := func(dir string) string {
		items, err := e.s.List(dir)
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, it := range items {
			n := it.Name
			if it.Dir {
				n += "/"
			}
			s = append(s, n)
		}
		return strings.Join(s, " ")
	}
	if got := names("/"); got != "docs/ empty/ top.txt" {
		t.Fatalf("ls / = %q", got)
	}
	if got := names("/docs"); got != "a.txt sub/" {
		t.Fatalf("ls /docs = %q", got)
	}
	// Rename a file.
	if _, err := e.s.Move("/top.txt", "/renamed.txt"); err != nil {
		t.Fatal(err)
	}
	if got := string(e.get(t, "/renamed.txt")); got != "t" {
		t.Fatal(got)
	}
	// Move into an existing folder.
	if dst, err := e.s.Move("/renamed.txt", "/empty"); err != nil || dst != "/empty/renamed.txt" {
		t.Fatal(dst, err)
	}
	// Move a folder.
	if _, err := e.s.Move("/docs", "/archive/2026"); err != nil {
		t.Fatal(err)
	}
	if got := names("/archive/2026"); got != "a.txt sub/" {
		t.Fatalf("after mv: %q", got)
	}
	if got := string(e.get(t, "/archive/2026/sub/b.txt")); got != "b" {
		t.Fatal(got)
	}
	if _, err := e.s.Stat("/docs/a.txt"); !errors.Is(err, ErrNotFound) {
		t.Fatal("old path still there")
	}
	if _, err := e.s.Move("/archive", "/archive/2026/x"); err == nil {
		t.Fatal("moved a folder into itself")
	}
	e.put(t, "/x", []byte("x"), PutOptions{})
	if _, err := e.s.Move("/x", "/empty/renamed.txt"); !errors.Is(err, ErrExists) {
		t.Fatalf("overwrite by move: %v", err)
	}
	// Remove.
	if _, err := e.s.Remove(context.Background(), "/archive", false); err == nil {
		t.Fatal("removed a non-empty folder without recursive")
	}
	before := e.f.Count()
	n, err := e.s.Remove(context.Background(), "/archive", true)
	if err != nil || n != 2 {
		t.Fatal(n, err)
	}
	if got := e.f.Count(); got != before-12 {
		t.Fatalf("shards %d → %d", before, got)
	}
	if got := names("/"); got != "empty/ x" {
		t.Fatalf("ls / = %q", got)
	}
	if _, err := e.s.Remove(context.Background(), "/nope", false); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "/a/../b", "/a\x00b"} {
		if _, err := e.s.Put(context.Background(), bad, strings.NewReader(""), PutOptions{}); err == nil {
			t.Fatalf("put %q accepted", bad)
		}
	}
	if _, err := e.s.Put(context.Background(), "/empty", strings.NewReader(""), PutOptions{}); !errors.Is(err, ErrExists) {
		t.Fatalf("put over a folder: %v", err)
	}
}

func TestPendingCleanup(t *testing.T) {
	e := newEnv(t, 6, nil)
	// A put that was interrupted: shards placed, journal left behind.
	data := randBytes(3 * seg)
	e.put(t, "/p", data, PutOptions{})
	// A finished put leaves no journal behind.
	e.kv.Scan([]byte(prefixPending), func(k, _ []byte) error {
		t.Errorf("journal record %q left after a put", k)
		return nil
	})
	man, _ := e.s.Manifest("/p")
	// A crash mid-put leaves one record per segment (this box's format)...
	for i, sg := range man.Segments[:1] {
		if err := putJSON(e.kv, string(pendingKey(man.File, i)), &pendingPut{Segments: map[int][]index.ShardRef{i: sg.Shards}}); err != nil {
			t.Fatal(err)
		}
	}
	// ...or one for the whole file (older boxes).
	j := pendingPut{Segments: map[int][]index.ShardRef{}}
	for i := 1; i < len(man.Segments); i++ {
		var refs []index.ShardRef
		for _, r := range man.Segments[i].Shards {
			refs = append(refs, index.ShardRef{ID: r.ID}) // holders not yet known
		}
		j.Segments[i] = refs
	}
	e.kv.Delete(manKey(man.File))
	e.kv.Delete(metaKey("/p"))
	if err := putJSON(e.kv, prefixPending+man.File.String(), &j); err != nil {
		t.Fatal(err)
	}
	e.s.cleanupPending(context.Background())
	if n := e.f.Count(); n != 0 {
		t.Fatalf("%d shards left", n)
	}
	e.kv.Scan([]byte(prefixPending), func(k, _ []byte) error {
		t.Errorf("journal record %q left after the clean-up", k)
		return nil
	})
}

func TestFastestHoldersFirst(t *testing.T) {
	e := newEnv(t, 6, func(c *Config) { c.GetSpare = 0 })
	data := randBytes(8 * seg)
	e.put(t, "/f", data, PutOptions{})
	slow := e.peers[4]
	e.s.stats.ok(slow, 10e9)
	e.f.Set(func() { e.f.Gets = map[peer.ID]int{} })
	e.get(t, "/f")
	var asked int
	e.f.Set(func() { asked = e.f.Gets[slow] })
	if asked != 0 {
		t.Fatalf("slow box asked %d times", asked)
	}
}

func TestHedgeSlowHolder(t *testing.T) {
	e := newEnv(t, 6, nil)
	data := randBytes(6 * seg)
	e.put(t, "/h", data, PutOptions{})
	slow := e.peers[0]
	e.f.Set(func() { e.f.Delay[slow] = 5 * time.Second })
	e.s.stats.ok(slow, 0) // looks fastest, so it is asked first
	t0 := time.Now()
	if !bytes.Equal(e.get(t, "/h"), data) {
		t.Fatal("differs")
	}
	if d := time.Since(t0); d > 3*time.Second {
		t.Fatalf("get waited on the slow holder: %v", d)
	}
}

func TestVerifyFindsCorruptShard(t *testing.T) {
	e := newEnv(t, 6, nil)
	e.put(t, "/v", randBytes(3*seg), PutOptions{})
	man, _ := e.s.Manifest("/v")
	victim := man.Segments[2].Shards[4]
	e.f.Set(func() { e.f.Boxes[victim.Holder][victim.ID][0] ^= 1 })
	h, _ := e.s.Health(context.Background(), "/v")
	if !h.Complete {
		t.Fatal("presence check should not see the corruption")
	}
	h, err := e.s.Verify(context.Background(), "/v")
	if err != nil {
		t.Fatal(err)
	}
	if st := h.Segments[2].Shards[4].State; st != StateCorrupt {
		t.Fatalf("state %s", st)
	}
}

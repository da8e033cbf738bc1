package cloud

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"oepc.dev/oepcos/packages/cloud/codec"
	"oepc.dev/oepcos/packages/cloud/index"
	"oepc.dev/oepcos/packages/cloud/keys"
	"oepc.dev/oepcos/packages/store"
)

// gcNet is an owner box and six holders; holders can go offline.
type gcNet struct {
	a       *realBox
	holders []*realBox
	mu      sync.Mutex
	down    map[peer.ID]bool
}

func newGCNet(t *testing.T, cfg func(*realBox, *Config)) *gcNet {
	t.Helper()
	if testing.Short() {
		t.Skip("libp2p network test")
	}
	n := &gcNet{down: map[peer.ID]bool{}}
	for range 6 {
		n.holders = append(n.holders, newRealBox(t, nil, nil))
	}
	n.a = newRealBox(t, keys.New(), cfg)
	n.a.online = func() []peer.ID {
		n.mu.Lock()
		defer n.mu.Unlock()
		var out []peer.ID
		for _, h := range n.holders {
			if !n.down[h.h.ID()] {
				out = append(out, h.h.ID())
			}
		}
		return out
	}
	for _, h := range n.holders {
		befriend(t, n.a, h)
	}
	return n
}

func (n *gcNet) setDown(h *realBox, down bool) {
	n.mu.Lock()
	n.down[h.h.ID()] = down
	n.mu.Unlock()
	if down {
		h.offline()
	} else {
		h.online_()
	}
}

// place puts a random shard on h as the owner, outside any file.
func (n *gcNet) place(t *testing.T, h *realBox) codec.ShardID {
	t.Helper()
	data := randBytes(1000)
	id := codec.SumShard(data)
	if err := n.a.s.cfg.Holders.Put(context.Background(), h.h.ID(), id, data); err != nil {
		t.Fatal(err)
	}
	return id
}

func has(h *realBox, id codec.ShardID) bool {
	ok, _ := h.st.Has(id)
	return ok
}

func queued(t *testing.T, s *Service) int {
	n := 0
	s.cfg.KV.Scan([]byte(prefixUndeleted), func(_, v []byte) error {
		var u undeleted
		store.GetJSONBytes(v, &u)
		n += len(u.Refs)
		return nil
	})
	return n
}

func waitFor(t *testing.T, what string, d time.Duration, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The shards of a put cut off by a crash are deleted from every holder:
// the journal record is kept until each has confirmed, and a holder that
// is offline at start-up is retried until it comes back.
func TestCrashCleanupWaitsForHolders(t *testing.T) {
	n := newGCNet(t, nil)
	var refs []index.ShardRef
	for _, h := range n.holders {
		refs = append(refs, index.ShardRef{ID: n.place(t, h), Holder: h.h.ID()})
	}
	// One shard whose holder the journal did not record yet.
	unrec := n.place(t, n.holders[1])
	journal := append(refs, index.ShardRef{ID: unrec})
	file := codec.NewFileID()
	if err := store.PutJSON(n.a.s.cfg.KV, pendingKey(file, 0), &pendingPut{Segments: map[int][]index.ShardRef{0: journal}}); err != nil {
		t.Fatal(err)
	}
	off := n.holders[0]
	n.setDown(off, true)

	// The box restarts: its clean-up runs.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.a.s.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "the online holders' shards to go", 20*time.Second, func() bool {
		for _, r := range refs[1:] {
			if has(n.holders[slicesIndex(n.holders, r.Holder)], r.ID) {
				return false
			}
		}
		return !has(n.holders[1], unrec)
	})
	if !has(off, refs[0].ID) {
		t.Fatal("offline holder lost its shard")
	}
	time.Sleep(time.Second) // a retry or two while it is still away
	if q := queued(t, n.a.s); q != 1 {
		t.Fatalf("%d deletes queued while one holder is offline, want 1", q)
	}
	n.setDown(off, false)
	waitFor(t, "the returning holder's shard to go", time.Minute, func() bool {
		return !has(off, refs[0].ID) && queued(t, n.a.s) == 0
	})
	if k := 0; n.a.s.cfg.KV.Scan([]byte(prefixPending), func([]byte, []byte) error { k++; return nil }) == nil && k != 0 {
		t.Fatalf("%d journal records left", k)
	}
}

func slicesIndex(bs []*realBox, p peer.ID) int {
	for i, b := range bs {
		if b.h.ID() == p {
			return i
		}
	}
	return -1
}

// A holder offline during rm keeps its copies; when it is back, the
// reconcile deletes them and everything else no file refers to, but never
// the shards of files, of the index backup, or of a put under way.
func TestReconcileDeletesOrphans(t *testing.T) {
	n := newGCNet(t, func(_ *realBox, c *Config) { c.ReconcileMinAge = -1 })
	ctx := context.Background()
	a := n.a.s
	gone, kept := randBytes(2*seg+1), randBytes(seg+3)
	if _, err := a.Put(ctx, "/gone.bin", bytes.NewReader(gone), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Put(ctx, "/kept.bin", bytes.NewReader(kept), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	goneMan, _ := a.Manifest("/gone.bin")
	keptMan, _ := a.Manifest("/kept.bin")
	if _, err := a.Backup(ctx); err != nil {
		t.Fatal(err)
	}
	var bst backupState
	store.GetJSON(a.cfg.KV, keyBackup, &bst)

	off := n.holders[2]
	n.setDown(off, true)
	if _, err := a.Remove(ctx, "/gone.bin", false); err != nil {
		t.Fatal(err)
	}
	n.setDown(off, false)
	left := heldShards(n.holders, goneMan)
	if left == 0 {
		t.Fatal("the offline holder had none of the file's shards")
	}
	// A put under way (journal written, shard placed) and a stray shard.
	inFlight := n.place(t, off)
	store.PutJSON(a.cfg.KV, pendingKey(codec.NewFileID(), 0), &pendingPut{Segments: map[int][]index.ShardRef{0: {{ID: inFlight}}}})
	stray := n.place(t, off)

	// Too recent: a reconcile with a minimum age spares it.
	a.cfg.ReconcileMinAge = time.Hour
	if _, err := a.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if !has(off, stray) || heldShards(n.holders, goneMan) != left {
		t.Fatal("a reconcile deleted shards stored within ReconcileMinAge")
	}
	a.cfg.ReconcileMinAge = 0
	rep, err := a.Reconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("reconcile: %+v", rep)
	if got := heldShards(n.holders, goneMan); got != 0 {
		t.Fatalf("%d shards of the removed file left after the reconcile", got)
	}
	if has(off, stray) {
		t.Fatal("stray shard kept")
	}
	if !has(off, inFlight) {
		t.Fatal("the reconcile deleted a shard of a put under way")
	}
	if got, want := heldShards(n.holders, keptMan), 6*len(keptMan.Segments); got != want {
		t.Fatalf("kept file: %d of %d shards left", got, want)
	}
	if got, want := heldShards(n.holders, bst.Manifest), 6*len(bst.Manifest.Segments); got != want {
		t.Fatalf("index backup: %d of %d shards left", got, want)
	}
	var b bytes.Buffer
	if _, err := a.Get(ctx, "/kept.bin", &b); err != nil || !bytes.Equal(b.Bytes(), kept) {
		t.Fatalf("get after reconcile: %v", err)
	}
}

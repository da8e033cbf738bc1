package shard

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// A shard belongs to the owner key, not to the box: another box with the
// same key (a new box after a recovery) deletes and lists it; a box with
// another key cannot.
func TestNetOwnerKeyNotBox(t *testing.T) {
	n := newTestNet(t, 1<<30, ServerOptions{})
	data := randBytes(t, 5000)
	id := Sum(data)
	if err := n.alice.Put(n.ctx, n.id(), id, data); err != nil {
		t.Fatal(err)
	}
	if err := n.bob.Delete(n.ctx, n.id(), id); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("delete by another owner: %v", err)
	}
	// Bob's box now signs with alice's key: it is alice's new box.
	newBox := n.bob.WithOwner(n.aliceK)
	ls, err := newBox.List(n.ctx, n.id(), ID{}, 10)
	if err != nil || len(ls) != 1 || ls[0].ID != id {
		t.Fatalf("list by the owner's other box: %v, %v", ls, err)
	}
	if ls, err := n.bob.List(n.ctx, n.id(), ID{}, 10); err != nil || len(ls) != 0 {
		t.Fatalf("list by another owner: %v, %v", ls, err)
	}
	if err := newBox.Delete(n.ctx, n.id(), id); err != nil {
		t.Fatalf("delete by the owner's other box: %v", err)
	}
	if ok, _ := n.st.Has(id); ok {
		t.Fatal("shard kept")
	}
}

func TestNetSignedRequestsRefused(t *testing.T) {
	n := newTestNet(t, 1<<30, ServerOptions{})
	data := randBytes(t, 5000)
	id := Sum(data)
	if err := n.alice.Put(n.ctx, n.id(), id, data); err != nil {
		t.Fatal(err)
	}
	send := func(r *request) *response { b, _ := r.marshal(); return rawRequest(t, n.aliceH, n.id(), b) }
	del := func() *request { return &request{op: opDelete, id: id} }

	// Forged: the signature is not the owner's.
	r := del()
	r.sign(n.bobK, n.id(), time.Now())
	r.auth.owner = OwnerOf(n.aliceK)
	if got := send(r); got.code != codeBadAuth {
		t.Fatalf("forged delete: %+v", got)
	}
	// Too old or too far ahead.
	for _, at := range []time.Time{time.Now().Add(-MaxClockSkew - time.Minute), time.Now().Add(MaxClockSkew + time.Minute)} {
		r = del()
		r.sign(n.aliceK, n.id(), at)
		if got := send(r); got.code != codeBadAuth {
			t.Fatalf("delete signed at %v: %+v", at, got)
		}
	}
	// Signed for another holder.
	r = del()
	r.sign(n.aliceK, n.eveH.ID(), time.Now())
	if got := send(r); got.code != codeBadAuth {
		t.Fatalf("delete signed for another holder: %+v", got)
	}
	// For another shard than the one it names.
	r = del()
	r.sign(n.aliceK, n.id(), time.Now())
	b, _ := r.marshal()
	b[1] ^= 1
	if got := rawRequest(t, n.aliceH, n.id(), b); got.code != codeBadAuth {
		t.Fatalf("delete with the shard ID changed: %+v", got)
	}
	if ok, _ := n.st.Has(id); !ok {
		t.Fatal("shard deleted by a refused request")
	}
	// A good one works once; its replay is refused.
	r = del()
	r.sign(n.aliceK, n.id(), time.Now())
	if got := send(r); got.code != codeOK {
		t.Fatalf("delete: %+v", got)
	}
	if got := send(r); got.code != codeBadAuth {
		t.Fatalf("replayed delete: %+v", got)
	}
}

func TestNetListPages(t *testing.T) {
	n := newTestNet(t, 1<<30, ServerOptions{})
	want := map[ID]bool{}
	for range 7 {
		data := randBytes(t, 100)
		if err := n.alice.Put(n.ctx, n.id(), Sum(data), data); err != nil {
			t.Fatal(err)
		}
		want[Sum(data)] = true
	}
	other := randBytes(t, 100)
	if err := n.bob.Put(n.ctx, n.id(), Sum(other), other); err != nil {
		t.Fatal(err)
	}
	got := map[ID]bool{}
	from, more := ID{}, true
	for more {
		ls, err := n.alice.List(n.ctx, n.id(), from, 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range ls {
			got[l.ID] = true
			if l.Age < 0 || l.Age > time.Minute {
				t.Fatalf("age %v", l.Age)
			}
		}
		if len(ls) < 3 {
			break
		}
		from, more = Next(ls[len(ls)-1].ID)
	}
	if len(got) != len(want) {
		t.Fatalf("listed %d of %d", len(got), len(want))
	}
	for id := range want {
		if !got[id] {
			t.Fatalf("%s not listed", id)
		}
	}
}

// The friend a file is shared with fetches its shards from a holder that
// is not its friend, against the owner's grant; nothing else passes.
func TestNetGrant(t *testing.T) {
	n := newTestNet(t, 1<<30, ServerOptions{})
	var ids []ID
	var blobs [][]byte
	for range 5 {
		data := randBytes(t, 1000)
		if err := n.alice.Put(n.ctx, n.id(), Sum(data), data); err != nil {
			t.Fatal(err)
		}
		ids, blobs = append(ids, Sum(data)), append(blobs, data)
	}
	bobsData := randBytes(t, 1000)
	if err := n.bob.Put(n.ctx, n.id(), Sum(bobsData), bobsData); err != nil {
		t.Fatal(err)
	}
	eve := n.eve // a stranger to the holder, the recipient
	if _, err := eve.Get(n.ctx, n.id(), ids[0]); !errors.Is(err, ErrRefused) {
		t.Fatalf("get without grant: %v", err)
	}
	g, err := NewGrant(n.aliceK, n.eveH.ID(), time.Now().Add(time.Hour), ids)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ids {
		b, err := eve.GetGranted(n.ctx, n.id(), g, ids, i, nil)
		if err != nil || !bytes.Equal(b, blobs[i]) {
			t.Fatalf("granted get %d: %v", i, err)
		}
	}
	g2, _ := UnmarshalGrant(g.Marshal())
	if *g2 != *g {
		t.Fatal("grant does not round trip")
	}

	refused := func(what string, g *Grant, ids []ID, i int, want error) {
		t.Helper()
		if _, err := eve.GetGranted(n.ctx, n.id(), g, ids, i, nil); !errors.Is(err, want) {
			t.Fatalf("%s: %v", what, err)
		}
	}
	expired, _ := NewGrant(n.aliceK, n.eveH.ID(), time.Now().Add(-time.Second), ids)
	refused("expired grant", expired, ids, 0, ErrBadAuth)
	forged := *g
	forged.Expires = forged.Expires.Add(time.Hour * 24 * 365)
	refused("forged grant", &forged, ids, 0, ErrBadAuth)
	otherRecipient, _ := NewGrant(n.aliceK, n.bobH.ID(), time.Now().Add(time.Hour), ids)
	refused("grant for someone else", otherRecipient, ids, 0, ErrBadAuth)
	// A shard not in the grant, even of the same owner, with a made-up proof.
	refused("shard outside the grant", g, append(ids[:4:4], Sum(bobsData)), 4, ErrBadAuth)
	// Bob's key signs a grant over alice's shards: they are not his.
	other, _ := NewGrant(n.bobK, n.eveH.ID(), time.Now().Add(time.Hour), ids)
	refused("grant by another owner", other, ids, 1, ErrNotFound)
	// Bob's grant over bob's shard works.
	own, _ := NewGrant(n.bobK, n.eveH.ID(), time.Now().Add(time.Hour), []ID{Sum(bobsData)})
	if _, err := eve.GetGranted(n.ctx, n.id(), own, []ID{Sum(bobsData)}, 0, nil); err != nil {
		t.Fatalf("bob's grant: %v", err)
	}
	// A stranger with a grant may still do nothing else.
	if err := eve.Put(n.ctx, n.id(), Sum(bobsData), bobsData); !errors.Is(err, ErrRefused) {
		t.Fatalf("stranger put: %v", err)
	}
}

func TestGrantProofs(t *testing.T) {
	for n := 1; n <= 17; n++ {
		ids := make([]ID, n)
		for i := range ids {
			ids[i] = Sum([]byte{byte(i), byte(n)})
		}
		root := grantRoot(ids)
		for i := range ids {
			if merkleFold(ids[i], uint32(i), uint32(n), GrantProof(ids, i)) != root {
				t.Fatalf("n=%d i=%d: proof does not fold to the root", n, i)
			}
			if n > 1 && merkleFold(ids[(i+1)%n], uint32(i), uint32(n), GrantProof(ids, i)) == root {
				t.Fatalf("n=%d i=%d: another shard folds to the root", n, i)
			}
		}
	}
}

// An owner none of whose boxes is a friend any more is evicted after the
// grace period, measured on the clock Sweep is given; one whose box is a
// friend again is not.
func TestSweepEvictsExFriends(t *testing.T) {
	s := newTestStore(t, 1<<30)
	alice, bob := newOwner(t), newOwner(t)
	aliceBox, bobBox := newPeerID(t), newPeerID(t)
	put := func(o Owner, box peer.ID) ID {
		data := randBytes(t, 1000)
		if err := s.PutFrom(o, box, Sum(data), bytes.NewReader(data), int64(len(data))); err != nil {
			t.Fatal(err)
		}
		return Sum(data)
	}
	a, b := put(alice, aliceBox), put(bob, bobBox)
	local := put(newOwner(t), "") // no box known: never evicted
	friends := map[peer.ID]bool{aliceBox: true, bobBox: true}
	allowed := func(p peer.ID) bool { return friends[p] }
	now := time.Now()
	if ev, err := s.Sweep(allowed, now); err != nil || len(ev) != 0 {
		t.Fatalf("sweep with friends: %v, %v", ev, err)
	}
	// Both stop being friends; bob comes back within the grace period.
	delete(friends, aliceBox)
	delete(friends, bobBox)
	if ev, _ := s.Sweep(allowed, now); len(ev) != 0 {
		t.Fatalf("evicted at once: %v", ev)
	}
	for _, h := range s.Hosted() {
		if (h.Owner == alice || h.Owner == bob) && !h.EvictAt.Equal(now.UTC().Add(DefaultGrace)) {
			t.Fatalf("evict_at of %s = %v, want %v", h.Owner, h.EvictAt, now.Add(DefaultGrace))
		}
	}
	friends[bobBox] = true
	s.Sweep(allowed, now.Add(time.Hour))
	ev, err := s.Sweep(allowed, now.Add(DefaultGrace))
	if err != nil || len(ev) != 1 || ev[0] != alice {
		t.Fatalf("sweep after the grace period: %v, %v", ev, err)
	}
	for id, want := range map[ID]bool{a: false, b: true, local: true} {
		if ok, _ := s.Has(id); ok != want {
			t.Fatalf("shard %s kept = %v, want %v", id, ok, want)
		}
	}
	for _, h := range s.Hosted() {
		if h.Owner == alice || !h.EvictAt.IsZero() {
			t.Fatalf("after eviction: %+v", h)
		}
	}
}

func TestStoreListPages(t *testing.T) {
	s := newTestStore(t, 1<<30)
	o := newOwner(t)
	var want []ID
	for range 60 {
		data := randBytes(t, 64)
		if err := s.Put(o, Sum(data), bytes.NewReader(data), int64(len(data))); err != nil {
			t.Fatal(err)
		}
		want = append(want, Sum(data))
	}
	other := randBytes(t, 64)
	s.Put(newOwner(t), Sum(other), bytes.NewReader(other), 64)
	slices.SortFunc(want, func(a, b ID) int { return bytes.Compare(a[:], b[:]) })
	var got []ID
	for from, more := (ID{}), true; more; {
		ls, err := s.List(o, from, 7)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range ls {
			got = append(got, l.ID)
		}
		if len(ls) < 7 {
			break
		}
		from, more = Next(ls[len(ls)-1].ID)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("listed %d shards, want %d in order", len(got), len(want))
	}
}

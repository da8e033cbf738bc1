package friends_test

import (
	"bufio"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"oepc.dev/oepcos/packages/friends"
	"oepc.dev/oepcos/packages/p2p"
	"oepc.dev/oepcos/packages/p2p/p2ptest"
	"oepc.dev/oepcos/packages/store"
	"oepc.dev/oepcos/packages/wire"
)

type box struct {
	node *p2p.Node
	kv   *store.DB
	book *friends.Book
	dir  string
}

func newBox(t *testing.T, name string, boot []peer.AddrInfo, now func() time.Time) *box {
	t.Helper()
	b := &box{dir: t.TempDir()}
	b.node = p2ptest.Node(t, p2p.Config{Bootstrap: boot})
	p2ptest.Run(t, b.node)
	b.open(t, name, now)
	return b
}

func (b *box) open(t *testing.T, name string, now func() time.Time) {
	t.Helper()
	kv, err := store.Open(b.dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b.kv = kv
	b.book, err = friends.New(b.node.Host, kv, friends.Options{Name: name, Rendezvous: b.node, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.book.Close(); kv.Close() })
}

func TestInviteAcceptURIAndShortCode(t *testing.T) {
	ctx := context.Background()
	sn := p2ptest.Node(t, p2p.Config{SuperNode: true})
	p2ptest.Run(t, sn)
	boot := []peer.AddrInfo{p2ptest.Info(sn)}
	alice := newBox(t, "alice", boot, nil)
	bob := newBox(t, "bob", boot, nil)
	carol := newBox(t, "carol", boot, nil)
	for _, b := range []*box{alice, bob, carol} {
		deadline := time.Now().Add(20 * time.Second)
		for st := b.node.Stats(); !st.Joined || st.RoutingTable == 0; st = b.node.Stats() {
			if time.Now().After(deadline) {
				t.Fatal("box did not join")
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// By URI.
	inv, err := alice.book.Invite(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(inv.URI, "oe://friend/"+alice.node.Host.ID().String()) {
		t.Fatalf("URI %q", inv.URI)
	}
	f, err := bob.book.Accept(ctx, inv.URI)
	if err != nil {
		t.Fatalf("accept by URI: %v", err)
	}
	if f.ID != alice.node.Host.ID() || f.Name != "alice" {
		t.Fatalf("bob's record of alice: %+v", f)
	}
	af, ok := alice.book.Get(bob.node.Host.ID())
	if !ok || af.TheirName != "bob" {
		t.Fatalf("alice has no record of bob: %+v", af)
	}
	if err := friends.Verify(alice.node.Host.ID(), af); err != nil {
		t.Fatalf("alice's record does not verify: %v", err)
	}
	if err := friends.Verify(bob.node.Host.ID(), f); err != nil {
		t.Fatalf("bob's record does not verify: %v", err)
	}
	// Replay: the same invite again.
	if _, err := carol.book.Accept(ctx, inv.URI); !errors.Is(err, friends.ErrInviteUsed) {
		t.Fatalf("replayed invite: %v, want ErrInviteUsed", err)
	}

	// By short code, found through the DHT.
	inv2, err := alice.book.Invite(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(inv2.Code) != 14 {
		t.Fatalf("code %q", inv2.Code)
	}
	if _, err := carol.book.Accept(ctx, strings.ToLower(inv2.Code)); err != nil {
		t.Fatalf("accept by short code: %v", err)
	}
	if !alice.book.Allowed(carol.node.Host.ID()) || !carol.book.Allowed(alice.node.Host.ID()) {
		t.Fatal("alice and carol are not friends")
	}
	if bob.book.Allowed(carol.node.Host.ID()) {
		t.Fatal("bob and carol became friends")
	}
	// Own invite.
	inv3, _ := alice.book.Invite(ctx, time.Minute)
	if _, err := alice.book.Accept(ctx, inv3.URI); !errors.Is(err, friends.ErrSelf) {
		t.Fatalf("own invite: %v", err)
	}

	// Rename, block, remove.
	if err := alice.book.Rename(bob.node.Host.ID(), "Bob's box"); err != nil {
		t.Fatal(err)
	}
	if f, err := alice.book.Lookup("Bob's box"); err != nil || f.ID != bob.node.Host.ID() {
		t.Fatalf("lookup by new name: %+v %v", f, err)
	}
	if err := alice.book.Rename(bob.node.Host.ID(), "bad\x00name"); err == nil {
		t.Fatal("control characters accepted in a name")
	}
	if err := alice.book.SetBlocked(bob.node.Host.ID(), true); err != nil {
		t.Fatal(err)
	}
	if alice.book.Allowed(bob.node.Host.ID()) || !alice.book.IsFriend(bob.node.Host.ID()) {
		t.Fatal("blocked friend still allowed, or dropped")
	}
	if err := carol.book.Remove(ctx, alice.node.Host.ID()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "alice to learn carol left", func() bool { return !alice.book.IsFriend(carol.node.Host.ID()) })

	// Restart bob's book: the friendship is still there.
	bob.book.Close()
	bob.kv.Close()
	bob.open(t, "bob", nil)
	if f, ok := bob.book.Get(alice.node.Host.ID()); !ok || friends.Verify(bob.node.Host.ID(), f) != nil {
		t.Fatal("bob forgot alice across a restart")
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestExpiredWrongAndHostile(t *testing.T) {
	ctx := context.Background()
	clock := time.Now()
	now := func() time.Time { return clock }
	alice := newBox(t, "alice", nil, now)
	bob := newBox(t, "bob", nil, now)
	mallory := newBox(t, "mallory", nil, now)

	inv, err := alice.book.Invite(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// A wrong code with alice's real address.
	wrong := strings.Replace(inv.URI, "code="+inv.Code, "code=AAAA-AAAA-AAAA", 1)
	if _, err := mallory.book.Accept(ctx, wrong); !errors.Is(err, friends.ErrInviteUsed) {
		t.Fatalf("wrong code: %v", err)
	}
	// Brute force gets cut off.
	for range 6 {
		mallory.book.Accept(ctx, wrong)
	}
	if _, err := mallory.book.Accept(ctx, inv.URI); err == nil || alice.book.IsFriend(mallory.node.Host.ID()) {
		t.Fatalf("a peer that kept guessing was let in: %v", err)
	}

	// Expired, as the inviter sees it (the acceptor's clock trusts the URI).
	clock = clock.Add(2 * time.Minute)
	if _, err := bob.book.Accept(ctx, inv.URI); !errors.Is(err, friends.ErrInviteExpired) {
		t.Fatalf("expired invite: %v", err)
	}
	if alice.book.IsFriend(bob.node.Host.ID()) {
		t.Fatal("expired invite made a friendship")
	}

	// Hostile frames on the protocol: the box answers or hangs up, and
	// keeps working.
	hostile := [][]byte{
		{0xff, 0xff, 0xff, 0xff, 0x0f},
		[]byte("\x05{}{}{"),
		[]byte("\x0f{\"type\":\"accept\"}"),
		[]byte("\x10{\"type\":\"nonsense\"}"),
	}
	for _, h := range hostile {
		s, err := mallory.node.Host.NewStream(ctx, alice.node.Host.ID(), friends.Protocol)
		if err != nil {
			t.Fatal(err)
		}
		s.SetDeadline(time.Now().Add(5 * time.Second))
		s.Write(h)
		s.CloseWrite()
		var resp struct {
			Error string `json:"error"`
			Code  string `json:"code"`
			Name  string `json:"name"`
			Sig   []byte `json:"sig"`
		}
		err = wire.Read(bufio.NewReader(s), 4096, &resp)
		if err == nil && resp.Error == "" {
			t.Fatalf("hostile frame %q was accepted: %+v", h, resp)
		}
		s.Close()
	}
	inv2, _ := alice.book.Invite(ctx, time.Minute)
	if _, err := bob.book.Accept(ctx, inv2.URI); err != nil {
		t.Fatalf("alice broke after hostile input: %v", err)
	}
}

func TestParseInvite(t *testing.T) {
	bad := []string{"", "ABC", "oe://friend/notapeer?code=AAAA-AAAA-AAAA", "oe://x/y", "http://friend/x",
		"UUUU-UUUU-UUUU"}
	for _, s := range bad {
		if _, err := friends.ParseInvite(s); err == nil {
			t.Errorf("ParseInvite(%q) accepted", s)
		}
	}
	p, err := friends.ParseInvite(" abcd-efgh-jkmn ")
	if err != nil || p.Code != "ABCDEFGHJKMN" {
		t.Fatalf("%+v %v", p, err)
	}
	// O and I read as 0 and 1.
	if a, b := friends.RendezvousKey("O1AA-AAAA-AAAA"), friends.RendezvousKey("0IAA-AAAA-AAAA"); !a.Equals(b) {
		t.Fatal("misreadable characters are not normalized")
	}
}

func FuzzParseInvite(f *testing.F) {
	f.Add("ABCD-EFGH-JKMN")
	f.Add("oe://friend/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN?code=ABCD-EFGH-JKMN&addr=/ip4/127.0.0.1/tcp/1&exp=1")
	f.Add("oe://friend/%zz")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := friends.ParseInvite(s)
		if err == nil && len(p.Code) != 12 {
			t.Fatalf("accepted code %q from %q", p.Code, s)
		}
	})
}

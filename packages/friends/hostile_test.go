package friends_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"oepc.dev/oepcos/packages/friends"
	"oepc.dev/oepcos/packages/p2p"
	"oepc.dev/oepcos/packages/p2p/p2ptest"
	"oepc.dev/oepcos/packages/store"
	"oepc.dev/oepcos/packages/wire"
)

// firstProviders is the acceptor's real DHT with its answer reordered so
// that the given peer comes first, once every wanted provider is found.
type firstProviders struct {
	*p2p.Node
	first peer.ID
	want  int
}

func (r firstProviders) FindProviders(ctx context.Context, key cid.Cid) ([]peer.AddrInfo, error) {
	for {
		ps, err := r.Node.FindProviders(ctx, key)
		if len(ps) >= r.want || ctx.Err() != nil {
			slices.SortStableFunc(ps, func(a, b peer.AddrInfo) int {
				switch {
				case a.ID == r.first:
					return -1
				case b.ID == r.first:
					return 1
				}
				return 0
			})
			return ps, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func joined(t *testing.T, nodes ...*p2p.Node) {
	t.Helper()
	for _, n := range nodes {
		deadline := time.Now().Add(20 * time.Second)
		for st := n.Stats(); !st.Joined || st.RoutingTable == 0; st = n.Stats() {
			if time.Now().After(deadline) {
				t.Fatal("node did not join")
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

type acceptReq struct {
	Type  string `json:"type"`
	Key   string `json:"key,omitempty"`
	Proof []byte `json:"proof,omitempty"`
	Name  string `json:"name,omitempty"`
	Since int64  `json:"since,omitempty"`
	Sig   []byte `json:"sig,omitempty"`
}

type answer struct {
	Error string `json:"error,omitempty"`
	Code  string `json:"code,omitempty"`
	Name  string `json:"name,omitempty"`
	Sig   []byte `json:"sig,omitempty"`
	Proof []byte `json:"proof,omitempty"`
}

// A DHT node that registers itself as a provider of a short code's
// rendezvous key (which it sees in lookups) and answers first, signing the
// friendship statement itself, does not become the acceptor's friend: it
// cannot prove the code. The real inviter does.
func TestShortCodeHijackRefused(t *testing.T) {
	ctx := context.Background()
	sn := p2ptest.Node(t, p2p.Config{SuperNode: true})
	p2ptest.Run(t, sn)
	boot := []peer.AddrInfo{p2ptest.Info(sn)}
	alice := newBox(t, "alice", boot, nil)
	mallory := p2ptest.Node(t, p2p.Config{Bootstrap: boot})
	p2ptest.Run(t, mallory)
	var hijacks sync.WaitGroup
	mallory.Host.SetStreamHandler(friends.Protocol, func(s network.Stream) {
		hijacks.Add(1)
		defer hijacks.Done()
		defer s.Close()
		s.SetDeadline(time.Now().Add(5 * time.Second))
		var req acceptReq
		if err := wire.Read(bufio.NewReader(s), 8<<10, &req); err != nil {
			return
		}
		st := friends.Statement(s.Conn().RemotePeer(), mallory.Host.ID(), time.Unix(req.Since, 0))
		sig, _ := mallory.Host.Peerstore().PrivKey(mallory.Host.ID()).Sign(st)
		// All it can send: it knows no code to prove (TestCheckAnswer
		// and FuzzCheckAnswer try proofs it might make up).
		wire.Write(s, answer{Name: "alice", Sig: sig})
	})

	bob := &box{dir: t.TempDir()}
	bob.node = p2ptest.Node(t, p2p.Config{Bootstrap: boot})
	p2ptest.Run(t, bob.node)
	kv, err := store.Open(bob.dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kv.Close() })
	bob.book, err = friends.New(bob.node.Host, kv, friends.Options{Name: "bob",
		Rendezvous: firstProviders{Node: bob.node, first: mallory.Host.ID(), want: 2}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bob.book.Close)
	joined(t, alice.node, mallory, bob.node)

	inv, err := alice.book.Invite(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = mallory.Provide(pctx, friends.RendezvousKey(inv.Code))
	cancel()
	if err != nil {
		t.Fatalf("mallory provides the code: %v", err)
	}

	f, err := bob.book.Accept(ctx, inv.Code)
	if err != nil {
		t.Fatalf("accept by short code with a hijacker first: %v", err)
	}
	if f.ID != alice.node.Host.ID() {
		t.Fatalf("bob made friends with %s, want alice %s", f.ID, alice.node.Host.ID())
	}
	hijacks.Wait()
	if bob.book.IsFriend(mallory.Host.ID()) || len(bob.book.List()) != 1 {
		t.Fatalf("the hijacker is in bob's book: %+v", bob.book.List())
	}
	if !alice.book.Allowed(bob.node.Host.ID()) {
		t.Fatal("alice has no record of bob")
	}

	// The hijacker alone (a forged URI naming it): refused, with a message
	// that says what happened.
	inv2, _ := alice.book.Invite(ctx, time.Minute)
	forged := fmt.Sprintf("oe://friend/%s?code=%s", mallory.Host.ID(), inv2.Code)
	for _, a := range mallory.Host.Addrs() {
		forged += "&addr=" + a.String()
	}
	_, err = bob.book.Accept(ctx, forged)
	if !errors.Is(err, friends.ErrNotInviter) || !strings.Contains(err.Error(), mallory.Host.ID().String()+" is not the inviter") {
		t.Fatalf("accept from the hijacker alone: %v, want ErrNotInviter naming it", err)
	}
	if bob.book.IsFriend(mallory.Host.ID()) {
		t.Fatal("the hijacker became bob's friend")
	}
}

// slowInvites is alice's real store with reads of invites slowed down, so
// that concurrent accepts meet inside the read-check-write of an invite.
type slowInvites struct{ store.KV }

func (s slowInvites) Get(key []byte) ([]byte, error) {
	if bytes.HasPrefix(key, []byte("friends/invite/")) {
		time.Sleep(100 * time.Millisecond)
	}
	return s.KV.Get(key)
}

// Correct accepts of one invite at the same moment make one friend.
func TestOneInviteOneFriend(t *testing.T) {
	ctx := context.Background()
	alice := &box{dir: t.TempDir()}
	alice.node = p2ptest.Node(t, p2p.Config{})
	kv, err := store.Open(alice.dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kv.Close() })
	alice.book, err = friends.New(alice.node.Host, slowInvites{kv}, friends.Options{Name: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(alice.book.Close)
	var others []*box
	for i := range 3 {
		others = append(others, newBox(t, fmt.Sprintf("box%d", i), nil, nil))
	}
	for round := range 3 {
		inv, err := alice.book.Invite(ctx, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		// Connected beforehand, so that the accepts arrive together.
		for _, o := range others {
			p2ptest.Connect(t, o.node.Host, alice.node.Host)
		}
		errs := make([]error, len(others))
		var wg sync.WaitGroup
		for i, o := range others {
			wg.Go(func() { _, errs[i] = o.book.Accept(ctx, inv.URI) })
		}
		wg.Wait()
		ok := 0
		for i, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, friends.ErrInviteUsed):
				t.Errorf("round %d: box%d: %v, want ErrInviteUsed", round, i, err)
			}
		}
		if ok != 1 {
			t.Fatalf("round %d: %d accepts of one invite succeeded, want 1 (%v)", round, ok, errs)
		}
		if n := len(alice.book.List()); n != round+1 {
			t.Fatalf("round %d: alice has %d friends, want %d", round, n, round+1)
		}
		// Who won is now alice's friend and no longer a stranger; the
		// others try again with the next invite.
		for i, err := range errs {
			if err == nil {
				others = slices.Delete(others, i, i+1)
				break
			}
		}
		others = append(others, newBox(t, fmt.Sprintf("new%d", round), nil, nil))
	}
}

// dialOver connects a bare host to b's node at its addresses of one family
// only (/ip4 or /ip6), so that the box sees it at that address.
func dialOver(t *testing.T, b *box, family int) network.Conn {
	t.Helper()
	h := p2ptest.Host(t)
	var addrs []ma.Multiaddr
	for _, a := range b.node.Host.Addrs() {
		if _, err := a.ValueForProtocol(family); err == nil {
			if _, err := a.ValueForProtocol(ma.P_TCP); err == nil {
				addrs = append(addrs, a)
			}
		}
	}
	if len(addrs) == 0 {
		t.Fatalf("box has no TCP address of family %d: %v", family, b.node.Host.Addrs())
	}
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Connect(cctx, peer.AddrInfo{ID: b.node.Host.ID(), Addrs: addrs}); err != nil {
		t.Fatal(err)
	}
	return h.Network().ConnsToPeer(b.node.Host.ID())[0]
}

// Strangers that open streams and send half a message cannot hold the
// friends protocol's slots: one address gets a few of them, each for a
// short time, and a real accept from elsewhere goes through meanwhile.
func TestSilentStrangersDoNotHoldSlots(t *testing.T) {
	ctx := context.Background()
	alice := &box{dir: t.TempDir()}
	alice.node = p2ptest.Node(t, p2p.Config{ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0", "/ip6/::1/tcp/0"}})
	alice.open(t, "alice", nil)
	bob := newBox(t, "bob", nil, nil)

	// The stranger comes over ::1, bob over 127.0.0.1 (his URI keeps only
	// alice's IPv4 addresses).
	conn := dialOver(t, alice, ma.P_IP6)
	var held []network.Stream
	for range 20 {
		s, err := conn.NewStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		s.SetProtocol(friends.Protocol)
		s.SetDeadline(time.Now().Add(20 * time.Second))
		// Negotiate the protocol and start a message that never ends.
		if _, err := s.Write(append([]byte("\x13/multistream/1.0.0\n\x12"+friends.Protocol+"\n"), 0x40)); err != nil {
			t.Fatal(err)
		}
		held = append(held, s)
	}
	time.Sleep(300 * time.Millisecond) // let alice's handlers take what they can
	heldSince := time.Now()

	inv, err := alice.book.Invite(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	u, _ := url.Parse(inv.URI)
	q := u.Query()
	q["addr"] = slices.DeleteFunc(q["addr"], func(a string) bool { return !strings.HasPrefix(a, "/ip4/") })
	u.RawQuery = q.Encode()
	if _, err := bob.book.Accept(actx, u.String()); err != nil {
		t.Fatalf("accept while a stranger holds streams: %v", err)
	}
	t.Logf("accept took %v with 20 stranger streams open", time.Since(start))

	// Every held stream is answered (busy, or its message timed out) and
	// closed well before the old 15 s.
	var wg sync.WaitGroup
	for _, s := range held {
		wg.Go(func() {
			br := bufio.NewReader(s)
			// Skip the multistream echo, then read the answer.
			for range 2 {
				if _, err := br.ReadString('\n'); err != nil {
					t.Errorf("held stream: %v", err)
					return
				}
			}
			var a answer
			if err := wire.Read(br, 8<<10, &a); err != nil || a.Error == "" {
				t.Errorf("held stream answered %+v, %v; want an error answer", a, err)
			}
		})
	}
	wg.Wait()
	if d := time.Since(heldSince); d > 8*time.Second {
		t.Fatalf("stranger streams were held %v", d)
	}
}

// Wrong codes are counted per address too: fresh peer IDs from one address
// are refused once it has made too many wrong guesses.
func TestWrongCodesCountedPerAddress(t *testing.T) {
	clock := time.Now()
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	alice := newBox(t, "alice", nil, now)
	guess := func() answer {
		t.Helper()
		conn := dialOver(t, alice, ma.P_IP4)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s, err := conn.NewStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		s.SetProtocol(friends.Protocol)
		s.SetDeadline(time.Now().Add(10 * time.Second))
		key := make([]byte, 32)
		rand.Read(key)
		var buf bytes.Buffer
		buf.WriteString("\x13/multistream/1.0.0\n\x12" + friends.Protocol + "\n")
		wire.Write(&buf, acceptReq{Type: "accept", Key: hex.EncodeToString(key), Proof: key, Since: now().Unix()})
		if _, err := s.Write(buf.Bytes()); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(s)
		for range 2 {
			if _, err := br.ReadString('\n'); err != nil {
				t.Fatal(err)
			}
		}
		var a answer
		if err := wire.Read(br, 8<<10, &a); err != nil {
			t.Fatal(err)
		}
		return a
	}
	refused := -1
	for i := range 40 {
		if a := guess(); a.Code == "refused" {
			refused = i
			break
		} else if a.Code != "used" {
			t.Fatalf("guess %d: %+v", i, a)
		}
	}
	if refused < 0 {
		t.Fatal("40 wrong guesses from one address by 40 peer IDs, none refused")
	}
	t.Logf("refused from the %dth wrong guess on", refused+1)
	// The window passes: the address may try again.
	mu.Lock()
	clock = clock.Add(11 * time.Minute)
	mu.Unlock()
	if a := guess(); a.Code != "used" {
		t.Fatalf("after the window: %+v, want a plain wrong-code answer", a)
	}
}

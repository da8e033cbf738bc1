package friends

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"oepc.dev/oepcos/packages/p2p/p2ptest"
	"oepc.dev/oepcos/packages/store"
	"oepc.dev/oepcos/packages/wire"
)

// The wrong-code counters stay bounded however many peer IDs and addresses
// guess, and the peer that guessed last is still held to its limit.
func TestFailureCountersBounded(t *testing.T) {
	kv, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer kv.Close()
	b, err := New(p2ptest.Host(t), kv, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	wrong := request{Type: "accept", Key: hex.EncodeToString(make([]byte, 32)), Since: time.Now().Unix()}
	for i := range 2*maxTracked + 100 {
		b.handleAccept(peer.ID(fmt.Sprintf("peer-%d", i)), fmt.Sprintf("addr-%d", i), wrong)
	}
	if p, a := len(b.failPeer.m), len(b.failAddr.m); p > maxTracked || a > maxTracked {
		t.Fatalf("counters hold %d peers and %d addresses, want at most %d each", p, a, maxTracked)
	}
	last := peer.ID("last")
	for range maxFailures {
		b.handleAccept(last, "last-addr", wrong)
	}
	if r := b.handleAccept(last, "last-addr", wrong); r.Code != "refused" {
		t.Fatalf("a peer past its limit on a full counter: %+v, want refused", r)
	}
}

func testKey(t testing.TB, seed byte) (crypto.PrivKey, peer.ID) {
	t.Helper()
	k, err := crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return k, id
}

// The inviter's real answer passes checkAnswer; the same answer with a
// proof for another code, another acceptor or another time does not.
func TestCheckAnswer(t *testing.T) {
	selfKey, self := testKey(t, 1)
	invKey, inviter := testKey(t, 2)
	_, other := testKey(t, 3)
	const code = "ABCDEFGHJKMN"
	since := time.Unix(1_700_000_000, 0)
	sig, _ := selfKey.Sign(Statement(self, inviter, since))
	theirs, _ := invKey.Sign(Statement(self, inviter, since))
	good := response{Name: "alice", Sig: theirs, Proof: inviterProof(derive("secret", code), inviter, self, since.Unix())}
	f, err := checkAnswer(self, inviter, code, since, sig, good)
	if err != nil || f.ID != inviter || f.Name != "alice" {
		t.Fatalf("the inviter's answer: %+v %v", f, err)
	}
	for name, p := range map[string][]byte{
		"other code":     inviterProof(derive("secret", "ABCDEFGHJKMP"), inviter, self, since.Unix()),
		"other acceptor": inviterProof(derive("secret", code), inviter, other, since.Unix()),
		"other time":     inviterProof(derive("secret", code), inviter, self, since.Unix()+1),
		"reflected":      proof(derive("secret", code), self, inviter, since.Unix()),
		"none":           nil,
	} {
		bad := good
		bad.Proof = p
		if _, err := checkAnswer(self, inviter, code, since, sig, bad); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// No bytes an answering peer can send make a friend without the code.
func FuzzCheckAnswer(f *testing.F) {
	selfKey, self := testKey(f, 1)
	invKey, inviter := testKey(f, 2)
	const code = "ABCDEFGHJKMN"
	since := time.Unix(1_700_000_000, 0)
	sig, _ := selfKey.Sign(Statement(self, inviter, since))
	theirs, _ := invKey.Sign(Statement(self, inviter, since))
	seed := func(r response) []byte {
		var buf bytes.Buffer
		wire.Write(&buf, r)
		return buf.Bytes()
	}
	f.Add(seed(response{Name: "alice", Sig: theirs}))
	f.Add(seed(response{Name: "alice", Sig: theirs, Proof: proof(derive("secret", code), self, inviter, since.Unix())}))
	f.Add(seed(response{Name: "alice", Sig: theirs, Proof: inviterProof(derive("secret", "ABCDEFGHJKMP"), inviter, self, since.Unix())}))
	f.Add(seed(response{Error: "busy", Code: "busy"}))
	f.Add(seed(response{Error: "x", Code: "used"}))
	f.Add([]byte("\x05{}{}{"))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		var r response
		if err := wire.Read(bufio.NewReader(bytes.NewReader(data)), maxMsg, &r); err != nil {
			return
		}
		if fr, err := checkAnswer(self, inviter, code, since, sig, r); err == nil {
			t.Fatalf("answer %q made a friend without the code: %+v", data, fr)
		}
	})
}

func TestAddrKey(t *testing.T) {
	_, p1 := testKey(t, 1)
	_, p2 := testKey(t, 2)
	_, relay := testKey(t, 3)
	for _, c := range []struct {
		addr   string
		p      peer.ID
		sameAs string
		same   bool
	}{
		{"/ip4/192.0.2.7/tcp/4001", p1, "/ip4/192.0.2.7/udp/9/quic-v1", true},
		{"/ip4/192.0.2.7/tcp/4001", p1, "/ip4/192.0.2.8/tcp/4001", false},
		{"/ip6/2001:db8:1:2::1/tcp/1", p1, "/ip6/2001:db8:1:2:ffff::9/tcp/2", true}, // one /64
		{"/ip6/2001:db8:1:2::1/tcp/1", p1, "/ip6/2001:db8:1:3::1/tcp/1", false},
	} {
		a, b := addrKey(ma.StringCast(c.addr), c.p), addrKey(ma.StringCast(c.sameAs), p2)
		if (a == b) != c.same {
			t.Errorf("%s and %s: keys %q and %q, same=%v want %v", c.addr, c.sameAs, a, b, a == b, c.same)
		}
	}
	// Two strangers through one relay are counted apart.
	circuit := ma.StringCast("/ip4/192.0.2.1/tcp/4001/p2p/" + relay.String() + "/p2p-circuit")
	if addrKey(circuit, p1) == addrKey(circuit, p2) {
		t.Error("two relayed strangers share a key")
	}
}

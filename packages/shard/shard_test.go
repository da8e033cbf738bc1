package shard

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

func randBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func newPeerID(t testing.TB) peer.ID {
	_, pub, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestIDRoundTrip(t *testing.T) {
	data := []byte("hello shard")
	id := Sum(data)
	s := id.String()
	if len(s) != 64 || strings.ToLower(s) != s {
		t.Fatalf("String() = %q, want 64 lowercase hex digits", s)
	}
	back, err := ParseID(s)
	if err != nil || back != id {
		t.Fatalf("ParseID(%q) = %v, %v", s, back, err)
	}
	if up, err := ParseID(strings.ToUpper(s)); err != nil || up != id {
		t.Fatalf("ParseID(upper) = %v, %v", up, err)
	}
	for _, bad := range []string{"", "00", s[:63], s + "0", "zz" + s[2:]} {
		if _, err := ParseID(bad); err == nil {
			t.Errorf("ParseID(%q) accepted", bad)
		}
	}
	c := CID(id)
	if c.Version() != 1 || c.Prefix().MhType != 0x1e || c.Prefix().Codec != 0x55 {
		t.Fatalf("CID %s: prefix %+v", c, c.Prefix())
	}
	if back, err := IDFromCID(c); err != nil || back != id {
		t.Fatalf("IDFromCID = %v, %v", back, err)
	}
	// Known vector: BLAKE3 of the empty input.
	if got := Sum(nil).String(); got != "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262" {
		t.Fatalf("Sum(nil) = %s", got)
	}
}

// newOwner returns a fresh owner key (its private half).
func newOwnerKey(t testing.TB) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newOwner(t testing.TB) Owner { return OwnerOf(newOwnerKey(t)) }

package identity

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
)

func TestKeyPersists(t *testing.T) {
	dir := t.TempDir()
	k1, err := LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !k1.Equals(k2) {
		t.Fatal("second load returned a different key")
	}
	id, _ := peer.IDFromPrivateKey(k1)
	if got, err := PeerID(dir); err != nil || got != id {
		t.Fatalf("PeerID = %s, %v; want %s", got, err, id)
	}
	st, err := os.Stat(filepath.Join(dir, keyFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", st.Mode().Perm())
	}
}

func TestCorruptKeyIsAnError(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, keyFile), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(dir); err == nil {
		t.Fatal("corrupt key accepted")
	}
}

func TestToken(t *testing.T) {
	dir := t.TempDir()
	a, err := LoadOrCreateToken(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadOrCreateToken(dir)
	if err != nil || a != b {
		t.Fatalf("token changed: %q %q %v", a, b, err)
	}
	if len(a) != 64 || !TokenEqual(a, b) || TokenEqual(a, a[:63]+"x") {
		t.Fatalf("bad token %q", a)
	}
	if err := os.WriteFile(filepath.Join(dir, tokenFile), []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateToken(dir); err == nil {
		t.Fatal("short token accepted")
	}
}

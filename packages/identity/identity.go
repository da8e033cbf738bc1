// Package identity keeps a box's long-lived secrets in its data directory:
// the Ed25519 key that is its libp2p identity (and so its peer ID), and the
// bearer token of its local API. Both are created on first start and written
// atomically with owner-only permissions; nothing is written elsewhere.
package identity

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"oepc.dev/oepcos/packages/atomicfile"
)

const (
	keyFile   = "identity.key"
	tokenFile = "api.token"
)

// LoadOrCreateKey returns the box's private key from dir, creating it on
// first start.
func LoadOrCreateKey(dir string) (crypto.PrivKey, error) {
	path := filepath.Join(dir, keyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		k, err := crypto.UnmarshalPrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("identity: %s is corrupt: %w", path, err)
		}
		return k, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("identity: %w", err)
	}
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, err
	}
	b, err = crypto.MarshalPrivateKey(k)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.Write(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	return k, nil
}

// PeerID returns the peer ID of the key in dir without creating one.
func PeerID(dir string) (peer.ID, error) {
	b, err := os.ReadFile(filepath.Join(dir, keyFile))
	if err != nil {
		return "", err
	}
	k, err := crypto.UnmarshalPrivateKey(b)
	if err != nil {
		return "", err
	}
	return peer.IDFromPrivateKey(k)
}

// LoadOrCreateToken returns the local API token from dir, creating it on
// first start.
func LoadOrCreateToken(dir string) (string, error) {
	path := filepath.Join(dir, tokenFile)
	b, err := os.ReadFile(path)
	if err == nil {
		tok := strings.TrimSpace(string(b))
		if len(tok) < 32 {
			return "", fmt.Errorf("identity: %s holds a token too short to be safe", path)
		}
		return tok, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("identity: %w", err)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	tok := hex.EncodeToString(raw[:])
	if err := atomicfile.Write(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("identity: %w", err)
	}
	return tok, nil
}

// TokenEqual compares tokens in constant time.
func TokenEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

package shard

// Owner signatures and grants.
//
// A put, delete or list carries auth: the owner key, a timestamp, a random
// nonce and an Ed25519 signature by the owner key over
//
//	"oepc-shard-req-v1" | len(holder)(1) | holder peer ID | request body | owner | ts | nonce
//
// where the request body is the request without its auth (op, shard ID,
// size; or op, cursor, limit). Naming the holder keeps a request from being
// replayed to another holder; the timestamp (MaxClockSkew either way) and
// the nonce (remembered for as long as the timestamp is acceptable) keep it
// from being replayed to the same one.
//
// A Grant lets one peer (the friend a file was shared with) get shards of
// one owner without being the holder's friend:
//
//	owner(32) | expires(8, unix s) | n(4) | root(32) | len(recipient)(1) | recipient | sig(64)
//
// signed over "oepc-shard-grant-v1" and everything before sig. root is a
// Merkle root (BLAKE3, see grantRoot) over the n shard IDs of the shared
// file, so a grant stays small whatever the file's size; each get names
// the shard's index and its proof.

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/zeebo/blake3"
)

// MaxClockSkew is how far a signed request's timestamp may be from the
// holder's clock.
const MaxClockSkew = 5 * time.Minute

const (
	reqContext   = "oepc-shard-req-v1"
	grantContext = "oepc-shard-grant-v1"
	authSize     = 32 + 8 + 16 + ed25519.SignatureSize
	maxPeerIDLen = 64
	maxGrantSize = 32 + 8 + 4 + 32 + 1 + maxPeerIDLen + ed25519.SignatureSize
	maxProof     = 32 // levels: 2^32 shards
)

type auth struct {
	owner Owner
	ts    int64 // unix nanoseconds
	nonce [16]byte
	sig   [ed25519.SignatureSize]byte
}

func (a *auth) append(b []byte) []byte {
	b = append(b, a.owner[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(a.ts))
	b = append(b, a.nonce[:]...)
	return append(b, a.sig[:]...)
}

func parseAuth(b []byte) (auth, error) {
	var a auth
	if len(b) != authSize {
		return a, errMalformed
	}
	copy(a.owner[:], b)
	a.ts = int64(binary.BigEndian.Uint64(b[32:]))
	copy(a.nonce[:], b[40:])
	copy(a.sig[:], b[56:])
	return a, nil
}

func (a *auth) message(holder peer.ID, body []byte) []byte {
	m := make([]byte, 0, len(reqContext)+1+len(holder)+len(body)+32+8+16)
	m = append(m, reqContext...)
	m = append(m, byte(len(holder)))
	m = append(m, holder...)
	m = append(m, body...)
	m = append(m, a.owner[:]...)
	m = binary.BigEndian.AppendUint64(m, uint64(a.ts))
	return append(m, a.nonce[:]...)
}

// signAuth signs body (a request without its auth) for holder.
func signAuth(key ed25519.PrivateKey, holder peer.ID, body []byte, now time.Time) auth {
	a := auth{owner: OwnerOf(key), ts: now.UnixNano()}
	rand.Read(a.nonce[:])
	copy(a.sig[:], ed25519.Sign(key, a.message(holder, body)))
	return a
}

// sign sets r's auth: key's signature of r for holder at now.
func (r *request) sign(key ed25519.PrivateKey, holder peer.ID, now time.Time) error {
	r.auth = &auth{}
	b, err := r.marshal()
	if err != nil {
		return err
	}
	a := signAuth(key, holder, b[:len(b)-authSize], now)
	r.auth = &a
	return nil
}

// replayGuard remembers the nonces of signed requests while their
// timestamps are acceptable. It is bounded: when full of live nonces it
// refuses (ErrBusy) rather than forget one.
type replayGuard struct {
	mu   sync.Mutex
	seen map[[16]byte]int64 // nonce → when it may be forgotten (unix ns)
	max  int
}

func (g *replayGuard) check(a *auth, holder peer.ID, body []byte, now time.Time) error {
	d := now.Sub(time.Unix(0, a.ts))
	if d > MaxClockSkew || d < -MaxClockSkew {
		return fmt.Errorf("%w: request signed at %s, %s from the holder's clock (limit %s)",
			ErrBadAuth, time.Unix(0, a.ts).UTC().Format(time.RFC3339), d.Round(time.Second), MaxClockSkew)
	}
	if !ed25519.Verify(a.owner[:], a.message(holder, body), a.sig[:]) {
		return fmt.Errorf("%w: the signature does not verify", ErrBadAuth)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.seen == nil {
		g.seen = make(map[[16]byte]int64)
	}
	if _, ok := g.seen[a.nonce]; ok {
		return fmt.Errorf("%w: replayed request", ErrBadAuth)
	}
	if len(g.seen) >= g.max {
		for n, exp := range g.seen {
			if exp < now.UnixNano() {
				delete(g.seen, n)
			}
		}
		if len(g.seen) >= g.max {
			return fmt.Errorf("%w: too many signed requests in the last %s", ErrBusy, MaxClockSkew)
		}
	}
	// Past ts+MaxClockSkew the timestamp check refuses a replay anyway.
	g.seen[a.nonce] = a.ts + int64(MaxClockSkew)
	return nil
}

// Grant lets Recipient get, until Expires, the shards of Owner whose IDs
// are the N leaves under Root (one shared file's shards).
type Grant struct {
	Owner     Owner
	Recipient peer.ID
	Expires   time.Time
	N         uint32
	Root      [32]byte
	Sig       [ed25519.SignatureSize]byte
}

// NewGrant signs a grant for recipient to get ids (in a fixed order: the
// index of a shard in ids is what a get names) until expires.
func NewGrant(key ed25519.PrivateKey, recipient peer.ID, expires time.Time, ids []ID) (*Grant, error) {
	if len(ids) == 0 || uint64(len(ids)) > 1<<maxProof-1 {
		return nil, fmt.Errorf("shard: grant for %d shards", len(ids))
	}
	if len(recipient) == 0 || len(recipient) > maxPeerIDLen {
		return nil, fmt.Errorf("shard: grant recipient %q", recipient)
	}
	g := &Grant{Owner: OwnerOf(key), Recipient: recipient, Expires: time.Unix(expires.Unix(), 0).UTC(),
		N: uint32(len(ids)), Root: grantRoot(ids)}
	copy(g.Sig[:], ed25519.Sign(key, g.signed()))
	return g, nil
}

func (g *Grant) signed() []byte {
	b := []byte(grantContext)
	b = append(b, g.Owner[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(g.Expires.Unix()))
	b = binary.BigEndian.AppendUint32(b, g.N)
	b = append(b, g.Root[:]...)
	b = append(b, byte(len(g.Recipient)))
	return append(b, g.Recipient...)
}

// Marshal encodes the grant.
func (g *Grant) Marshal() []byte {
	return append(g.signed()[len(grantContext):], g.Sig[:]...)
}

// UnmarshalGrant decodes a grant (it does not check the signature: the
// holder does, against its clock and the peer asking).
func UnmarshalGrant(b []byte) (*Grant, error) {
	const fixed = 32 + 8 + 4 + 32 + 1
	if len(b) < fixed+1+ed25519.SignatureSize || len(b) > maxGrantSize {
		return nil, fmt.Errorf("shard: grant: %w", errMalformed)
	}
	g := &Grant{}
	copy(g.Owner[:], b)
	g.Expires = time.Unix(int64(binary.BigEndian.Uint64(b[32:])), 0).UTC()
	g.N = binary.BigEndian.Uint32(b[40:])
	copy(g.Root[:], b[44:])
	n := int(b[76])
	if n == 0 || len(b) != fixed+n+ed25519.SignatureSize || g.N == 0 {
		return nil, fmt.Errorf("shard: grant: %w", errMalformed)
	}
	g.Recipient = peer.ID(b[fixed : fixed+n])
	copy(g.Sig[:], b[fixed+n:])
	return g, nil
}

// verify checks that the grant is signed by its owner, unexpired, for
// recipient, and that proof places id at index under its root.
func (g *Grant) verify(recipient peer.ID, now time.Time, id ID, index uint32, proof [][32]byte) error {
	if g.Recipient != recipient {
		return fmt.Errorf("%w: grant is for %s, not %s", ErrBadAuth, g.Recipient, recipient)
	}
	if !now.Before(g.Expires) {
		return fmt.Errorf("%w: grant expired at %s", ErrBadAuth, g.Expires.Format(time.RFC3339))
	}
	if !ed25519.Verify(g.Owner[:], g.signed(), g.Sig[:]) {
		return fmt.Errorf("%w: grant signature does not verify", ErrBadAuth)
	}
	if index >= g.N || merkleFold(id, index, g.N, proof) != g.Root {
		return fmt.Errorf("%w: shard %s is not in the grant", ErrBadAuth, id)
	}
	return nil
}

// The Merkle tree: leaves H(0|id), nodes H(1|left|right); a level's odd
// last node moves up unchanged.
func leafHash(id ID) [32]byte { return blake3.Sum256(append([]byte{0}, id[:]...)) }

func nodeHash(l, r [32]byte) [32]byte {
	b := make([]byte, 0, 65)
	b = append(b, 1)
	b = append(b, l[:]...)
	return blake3.Sum256(append(b, r[:]...))
}

func grantRoot(ids []ID) [32]byte {
	level := make([][32]byte, len(ids))
	for i, id := range ids {
		level[i] = leafHash(id)
	}
	for len(level) > 1 {
		next := level[:0:0]
		for i := 0; i < len(level); i += 2 {
			if i+1 < len(level) {
				next = append(next, nodeHash(level[i], level[i+1]))
			} else {
				next = append(next, level[i])
			}
		}
		level = next
	}
	return level[0]
}

// GrantProof returns the proof that ids[i] is under grantRoot(ids).
func GrantProof(ids []ID, i int) [][32]byte {
	level := make([][32]byte, len(ids))
	for j, id := range ids {
		level[j] = leafHash(id)
	}
	var proof [][32]byte
	for len(level) > 1 {
		if s := i ^ 1; s < len(level) {
			proof = append(proof, level[s])
		}
		next := level[:0:0]
		for j := 0; j < len(level); j += 2 {
			if j+1 < len(level) {
				next = append(next, nodeHash(level[j], level[j+1]))
			} else {
				next = append(next, level[j])
			}
		}
		level, i = next, i/2
	}
	return proof
}

func merkleFold(id ID, i, n uint32, proof [][32]byte) [32]byte {
	h := leafHash(id)
	for n > 1 {
		if s := i ^ 1; s < n {
			if len(proof) == 0 {
				return [32]byte{}
			}
			if i%2 == 0 {
				h = nodeHash(h, proof[0])
			} else {
				h = nodeHash(proof[0], h)
			}
			proof = proof[1:]
		}
		i, n = i/2, (n+1)/2
	}
	if len(proof) != 0 {
		return [32]byte{}
	}
	return h
}

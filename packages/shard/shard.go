// Package shard is the holder side of the personal cloud: it keeps other
// boxes' erasure-coded, encrypted shards on this box's disk under a quota, and
// speaks the libp2p protocol (Protocol) that friends use to put, get, check
// and delete them.
//
// A shard is content-addressed: its ID is the BLAKE3-256 hash of its bytes,
// checked on arrival, on every read from disk and by the client on every
// fetch. The holder never sees plaintext; it only learns which owner (an
// Ed25519 cloud key, see Owner) stored which opaque blob, and through which
// boxes, which it needs for quota, deletion rights, eviction and the
// "Hosted for others" view.
//
// A shard belongs to its owner's key, not to the box that stored it: put,
// delete and list carry a signature by the owner key (see auth), so any of
// the owner's boxes that is a friend of the holder, such as a new box after
// a recovery, may manage them; and a get may carry an owner-signed Grant,
// so that the friend a file was shared with fetches its shards from holders
// that are not its friends while the owner's box is off.
//
// Durability rule: a shard is either fully present (file fsynced in place and
// indexed in the KV) or absent. Files are written to a temp directory,
// verified, fsynced and renamed before the index entry is committed;
// deletion removes the index entry before the file. OpenStore reconciles
// files and index after a crash.
package shard

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"oepc.dev/oepcos/packages/cloud/codec"
)

// Protocol is the libp2p protocol ID of the shard exchange.
const Protocol = "/oe/shard/2.0.0"

// MaxShardSize is the largest shard a holder accepts or a client fetches:
// the codec's, so the two sides cannot disagree.
const MaxShardSize = codec.MaxShardSize

// MaxHasBatch bounds the IDs in one Has request; Client.Has splits longer
// lists into several requests.
const MaxHasBatch = 1024

// MaxListBatch bounds the shards one list answer names.
const MaxListBatch = 1024

// Owner is an owner's Ed25519 public key: the cloud key derived from the
// recovery phrase, the same on every box of that owner.
type Owner [ed25519.PublicKeySize]byte

// OwnerOf returns the public half of an owner's signing key.
func OwnerOf(key ed25519.PrivateKey) Owner {
	return Owner(key.Public().(ed25519.PublicKey))
}

// String returns the key as lowercase hex.
func (o Owner) String() string { return hex.EncodeToString(o[:]) }

// MarshalText makes an Owner hex in JSON.
func (o Owner) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// UnmarshalText parses the hex form.
func (o *Owner) UnmarshalText(b []byte) error {
	if len(b) != 2*len(o) {
		return fmt.Errorf("shard: bad owner key %q", b)
	}
	_, err := hex.Decode(o[:], b)
	return err
}

// ID is a shard's content address, BLAKE3-256 of its bytes. It is the
// owner side's codec.ShardID itself, so the cloud hands its IDs to holders
// without converting.
type ID = codec.ShardID

// Sum returns the ID of data.
func Sum(data []byte) ID { return codec.SumShard(data) }

// ParseID parses the lowercase (or uppercase) hex form of an ID.
func ParseID(s string) (ID, error) { return codec.ParseShardID(s) }

// CID returns id as a CIDv1 (raw codec, blake3 multihash), the form a DHT
// would use. Holders do not provide shards in the DHT; tests use it to
// show so.
func CID(id ID) cid.Cid {
	mh, err := multihash.Encode(id[:], multihash.BLAKE3)
	if err != nil {
		// Encode fails only for unknown codes or bad lengths; both are
		// constants here.
		panic("shard: multihash encode: " + err.Error())
	}
	return cid.NewCidV1(cid.Raw, mh)
}

// IDFromCID is the inverse of CID.
func IDFromCID(c cid.Cid) (ID, error) {
	if c.Prefix().Codec != cid.Raw {
		return ID{}, fmt.Errorf("shard: cid %s: codec is not raw", c)
	}
	d, err := multihash.Decode(c.Hash())
	if err != nil {
		return ID{}, fmt.Errorf("shard: cid %s: %w", c, err)
	}
	if d.Code != multihash.BLAKE3 || len(d.Digest) != 32 {
		return ID{}, fmt.Errorf("shard: cid %s: not a blake3-256 multihash", c)
	}
	return ID(d.Digest), nil
}

// Errors. The same sentinels are returned by the local Store and, mapped from
// the wire error codes, by the Client, so callers test with errors.Is on
// either end.
var (
	// ErrNotFound: the holder does not have the shard.
	ErrNotFound = errors.New("shard: not found")
	// ErrRefused: the remote peer is not allowed to use the protocol
	// (not a friend, no contract).
	ErrRefused = errors.New("shard: refused")
	// ErrOverQuota: storing the shard would exceed the holder's quota.
	ErrOverQuota = errors.New("shard: over quota")
	// ErrHashMismatch: the bytes received do not hash to the shard ID.
	ErrHashMismatch = errors.New("shard: hash mismatch")
	// ErrCorrupt: the bytes on the holder's disk no longer match the ID.
	// The store drops such a shard so that audits see it missing.
	ErrCorrupt = errors.New("shard: corrupt on disk")
	// ErrTooLarge: the shard is bigger than MaxShardSize.
	ErrTooLarge = errors.New("shard: too large")
	// ErrNotOwner: a delete for an owner that did not store the shard.
	ErrNotOwner = errors.New("shard: not the owner")
	// ErrDiskFull: the holder's disk is full (ENOSPC).
	ErrDiskFull = errors.New("shard: disk full")
	// ErrBusy: the holder is at its concurrent stream limit; retry later.
	ErrBusy = errors.New("shard: holder busy")
	// ErrBadRequest: a malformed or truncated request.
	ErrBadRequest = errors.New("shard: bad request")
	// ErrProtocol: a malformed or truncated response from a holder.
	ErrProtocol = errors.New("shard: protocol error")
	// ErrBadAuth: a request not signed by an owner key within the allowed
	// clock skew, a replayed one, or a grant that is forged, expired or
	// for someone else.
	ErrBadAuth = errors.New("shard: bad owner signature or grant")
	// ErrInternal: the holder failed for a reason of its own (I/O error).
	ErrInternal = errors.New("shard: holder internal error")
)

// Package codec is the pure part of the personal cloud's pipeline: a file's
// plaintext segment is sealed with XChaCha20-Poly1305 under the file's own
// key, the ciphertext is cut into k data shards and extended with m
// Reed-Solomon parity shards, and every shard is named by the BLAKE3-256
// hash of its bytes. Nothing here touches the network or the disk.
package codec

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/klauspost/reedsolomon"
	"github.com/zeebo/blake3"
	"golang.org/x/crypto/chacha20poly1305"
)

const (
	// DefaultSegmentSize is the plaintext size of every segment but the
	// last: with its AEAD tag it seals to exactly 8 MiB, so for 4+2 every
	// shard is 2 MiB, a whole number of disk blocks that a holder writes
	// past the page cache. Shards that size halve the per-shard costs of
	// 1 MiB ones (a stream, a file, an fsync, an index record, a DHT
	// record each), and four segments in flight still fit in tens of MiB.
	DefaultSegmentSize = 8<<20 - Overhead
	// MinSegmentSize and MaxSegmentSize bound what a manifest may say.
	MinSegmentSize = 4 << 10
	MaxSegmentSize = 16 << 20
	// DefaultK and DefaultM are the default data and parity shard counts.
	DefaultK = 4
	DefaultM = 2
	// MaxShards bounds k+m: more shards per segment than boxes a
	// household can befriend buys nothing.
	MaxShards = 32
	// KeySize is the size of a file key.
	KeySize = chacha20poly1305.KeySize
	// Overhead is the AEAD tag added to every segment.
	Overhead = chacha20poly1305.Overhead
	// MaxShardSize is the largest shard a holder accepts.
	MaxShardSize = 16 << 20
)

// Errors returned by the codec.
var (
	ErrAuth     = errors.New("codec: segment failed authentication (wrong key, swapped or tampered segment)")
	ErrTooFew   = errors.New("codec: fewer than k shards available")
	ErrBadShard = errors.New("codec: shard does not match its ID")
)

// ShardID is a shard's address: the BLAKE3-256 hash of its bytes.
type ShardID [32]byte

// SumShard returns the ID of data.
func SumShard(data []byte) ShardID { return ShardID(blake3.Sum256(data)) }

// String returns the ID in hex.
func (id ShardID) String() string { return hex.EncodeToString(id[:]) }

// MarshalText encodes the ID as hex.
func (id ShardID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText decodes a hex ID.
func (id *ShardID) UnmarshalText(b []byte) error {
	p, err := ParseShardID(string(b))
	if err != nil {
		return err
	}
	*id = p
	return nil
}

// ParseShardID parses a hex shard ID.
func ParseShardID(s string) (ShardID, error) {
	var id ShardID
	if len(s) != 64 {
		return id, fmt.Errorf("codec: shard ID must be 64 hex digits")
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("codec: shard ID: %w", err)
	}
	return id, nil
}

// FileID names a file independently of its path; it is random and bound
// into every segment's additional data.
type FileID [16]byte

// NewFileID returns a random file ID.
func NewFileID() FileID {
	var f FileID
	rand.Read(f[:])
	return f
}

// String returns the ID in hex.
func (f FileID) String() string { return hex.EncodeToString(f[:]) }

// MarshalText encodes the ID as hex.
func (f FileID) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// UnmarshalText decodes a hex ID.
func (f *FileID) UnmarshalText(b []byte) error {
	p, err := ParseFileID(string(b))
	if err != nil {
		return err
	}
	*f = p
	return nil
}

// ParseFileID parses a hex file ID.
func ParseFileID(s string) (FileID, error) {
	var f FileID
	if len(s) != 32 {
		return f, fmt.Errorf("codec: file ID must be 32 hex digits")
	}
	if _, err := hex.Decode(f[:], []byte(s)); err != nil {
		return f, fmt.Errorf("codec: file ID: %w", err)
	}
	return f, nil
}

// NewFileKey returns a random file key.
func NewFileKey() []byte {
	k := make([]byte, KeySize)
	rand.Read(k)
	return k
}

// Sealer seals and opens the segments of one file.
type Sealer struct {
	aead cipher.AEAD
	file FileID
}

// NewSealer returns a Sealer for the file's key.
func NewSealer(key []byte, file FileID) (*Sealer, error) {
	a, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("codec: %w", err)
	}
	return &Sealer{aead: a, file: file}, nil
}

// The nonce is derived from the segment index: the key is random and used
// for one file only, so index-derived nonces never repeat. The additional
// data binds the file ID, the index and whether this is the last segment,
// so segments cannot be swapped, moved between files, or the file
// truncated at a segment boundary.
func (s *Sealer) nonceAD(index uint32, last bool) (nonce [chacha20poly1305.NonceSizeX]byte, ad [16 + 4 + 1]byte) {
	copy(nonce[:], "oepc-seg")
	binary.BigEndian.PutUint32(nonce[20:], index)
	copy(ad[:], s.file[:])
	binary.BigEndian.PutUint32(ad[16:], index)
	if last {
		ad[20] = 1
	}
	return nonce, ad
}

// Seal appends the sealed segment to dst. dst may be plain[:0] (in place).
func (s *Sealer) Seal(dst, plain []byte, index uint32, last bool) []byte {
	n, ad := s.nonceAD(index, last)
	return s.aead.Seal(dst, n[:], plain, ad[:])
}

// Open appends the opened segment to dst. dst may be ct[:0] (in place).
func (s *Sealer) Open(dst, ct []byte, index uint32, last bool) ([]byte, error) {
	n, ad := s.nonceAD(index, last)
	out, err := s.aead.Open(dst, n[:], ct, ad[:])
	if err != nil {
		return nil, ErrAuth
	}
	return out, nil
}

// Coder splits sealed segments into shards and back.
type Coder struct {
	k, m int
	enc  reedsolomon.Encoder
}

// CheckParams reports whether k data and m parity shards are acceptable.
func CheckParams(k, m int) error {
	if k < 1 || m < 0 || k+m > MaxShards {
		return fmt.Errorf("codec: bad erasure parameters %d+%d (need k>=1, m>=0, k+m<=%d)", k, m, MaxShards)
	}
	return nil
}

// NewCoder returns a Coder for k data and m parity shards.
func NewCoder(k, m int) (*Coder, error) {
	if err := CheckParams(k, m); err != nil {
		return nil, err
	}
	c := &Coder{k: k, m: m}
	if m > 0 {
		enc, err := reedsolomon.New(k, m)
		if err != nil {
			return nil, fmt.Errorf("codec: %w", err)
		}
		c.enc = enc
	}
	return c, nil
}

// K returns the number of data shards.
func (c *Coder) K() int { return c.k }

// M returns the number of parity shards.
func (c *Coder) M() int { return c.m }

// ShardSize returns the size of each shard of an n-byte sealed segment.
func (c *Coder) ShardSize(n int) int { return ShardSize(n, c.k) }

// ShardSize returns the size of each of k shards of n bytes.
func ShardSize(n, k int) int {
	s := (n + k - 1) / k
	if s == 0 {
		s = 1
	}
	return s
}

// BufSize returns the buffer size EncodeInPlace needs for a plaintext
// segment of up to n bytes.
func (c *Coder) BufSize(n int) int { return c.ShardSize(n+Overhead) * (c.k + c.m) }

// Encode cuts sealed (whose capacity must be at least BufSize of its
// plaintext length; the bytes past len(sealed) are overwritten) into k+m
// shards that alias sealed's backing array, and computes their parity.
func (c *Coder) Encode(sealed []byte) ([][]byte, error) {
	ss := c.ShardSize(len(sealed))
	n := ss * (c.k + c.m)
	if cap(sealed) < n {
		return nil, fmt.Errorf("codec: buffer too small: %d < %d", cap(sealed), n)
	}
	buf := sealed[:n]
	clear(buf[len(sealed) : ss*c.k]) // padding must be deterministic
	shards := make([][]byte, c.k+c.m)
	for i := range shards {
		shards[i] = buf[i*ss : (i+1)*ss : (i+1)*ss]
	}
	if c.enc != nil {
		if err := c.enc.Encode(shards); err != nil {
			return nil, fmt.Errorf("codec: %w", err)
		}
	}
	return shards, nil
}

// Reconstruct fills the missing (nil or empty) shards. With dataOnly it
// rebuilds only the data shards, which is all a get needs.
func (c *Coder) Reconstruct(shards [][]byte, dataOnly bool) error {
	if len(shards) != c.k+c.m {
		return fmt.Errorf("codec: %d shards, want %d", len(shards), c.k+c.m)
	}
	have, missingData := 0, false
	for i, s := range shards {
		if len(s) > 0 {
			have++
		} else if i < c.k {
			missingData = true
		}
	}
	if have < c.k {
		return ErrTooFew
	}
	if c.enc == nil || (dataOnly && !missingData) {
		return nil
	}
	var err error
	if dataOnly {
		err = c.enc.ReconstructData(shards)
	} else {
		err = c.enc.Reconstruct(shards)
	}
	if err != nil {
		return fmt.Errorf("codec: %w", err)
	}
	return nil
}

// Join appends the first n bytes of the data shards to dst.
func (c *Coder) Join(dst []byte, shards [][]byte, n int) ([]byte, error) {
	for i := 0; i < c.k && n > 0; i++ {
		s := shards[i]
		if len(s) == 0 {
			return nil, ErrTooFew
		}
		take := min(len(s), n)
		dst = append(dst, s[:take]...)
		n -= take
	}
	if n > 0 {
		return nil, fmt.Errorf("codec: shards shorter than the segment")
	}
	return dst, nil
}

// Segment is one encoded segment.
type Segment struct {
	// Len is the sealed (ciphertext) length.
	Len    int
	Shards [][]byte
	IDs    []ShardID
}

// EncodeSegment seals buf[:n] in place, erasure-codes it and names the
// shards. buf must have capacity BufSize(n). The shards alias buf.
func EncodeSegment(s *Sealer, c *Coder, buf []byte, n int, index uint32, last bool) (Segment, error) {
	sealed := s.Seal(buf[:0], buf[:n], index, last)
	shards, err := c.Encode(sealed)
	if err != nil {
		return Segment{}, err
	}
	ids := make([]ShardID, len(shards))
	for i, sh := range shards {
		ids[i] = SumShard(sh)
	}
	return Segment{Len: len(sealed), Shards: shards, IDs: ids}, nil
}

// DecodeSegment rebuilds and opens a segment from any k verified shards
// (missing ones nil) and appends the plaintext to dst.
func DecodeSegment(s *Sealer, c *Coder, shards [][]byte, sealedLen int, index uint32, last bool, dst []byte) ([]byte, error) {
	pt, err := OpenSegment(s, c, make([]byte, c.ShardSize(sealedLen)*c.k), slices.Clone(shards), sealedLen, index, last)
	if err != nil {
		return nil, err
	}
	if dst == nil {
		return pt, nil
	}
	return append(dst, pt...), nil
}

// OpenSegment is DecodeSegment without copies, for data shards that
// already sit at their places in buf (data shard j at j*ShardSize(sealedLen);
// parity shards anywhere; missing ones nil): missing data shards are rebuilt
// in place, and the sealed segment, now contiguous at the start of buf, is
// opened there. The plaintext returned aliases buf.
func OpenSegment(s *Sealer, c *Coder, buf []byte, shards [][]byte, sealedLen int, index uint32, last bool) ([]byte, error) {
	ss := c.ShardSize(sealedLen)
	if len(shards) != c.k+c.m || len(buf) < ss*c.k {
		return nil, fmt.Errorf("codec: %d shards and %d bytes, want %d and %d", len(shards), len(buf), c.k+c.m, ss*c.k)
	}
	place := func(j int) []byte { return buf[j*ss : (j+1)*ss : (j+1)*ss] }
	for j, sh := range shards {
		switch {
		case len(sh) == 0 && j < c.k:
			shards[j] = place(j)[:0] // reedsolomon rebuilds into the capacity
		case len(sh) == 0:
			shards[j] = nil
		case len(sh) != ss:
			return nil, fmt.Errorf("%w: shard %d is %d bytes, want %d", ErrBadShard, j, len(sh), ss)
		case j < c.k && &sh[0] != &buf[j*ss]:
			shards[j] = place(j)
			copy(shards[j], sh)
		}
	}
	if err := c.Reconstruct(shards, true); err != nil {
		return nil, err
	}
	for j := range c.k {
		if &shards[j][0] != &buf[j*ss] {
			copy(place(j), shards[j])
		}
	}
	pt, err := s.Open(buf[:0], buf[:sealedLen], index, last)
	if err != nil {
		return nil, err
	}
	return pt, nil
}

package index

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"oepc.dev/oepcos/packages/cloud/codec"
)

// ManifestVersion is the manifest format written by this package.
const ManifestVersion = 1

// MaxManifestBytes bounds a manifest on the wire or in the KV: a 1 TiB
// file in 4 MiB segments at 4+2 is about 40 MiB of JSON.
const MaxManifestBytes = 64 << 20

// WrappedKeySize is nonce + key + tag.
const WrappedKeySize = 24 + codec.KeySize + codec.Overhead

// Manifest says how to put a file back together: its segments, and for
// every segment the IDs and holders of its k+m shards (in shard order:
// data shards first), plus the file key wrapped by the owner's key.
type Manifest struct {
	Version     int          `json:"v"`
	File        codec.FileID `json:"file"`
	Size        int64        `json:"size"`
	K           int          `json:"k"`
	M           int          `json:"m"`
	SegmentSize int          `json:"seg"`
	WrappedKey  []byte       `json:"wkey"`
	Created     time.Time    `json:"created"`
	Segments    []Segment    `json:"segs"`
}

// Segment is one segment of a manifest.
type Segment struct {
	// Len is the sealed length (plaintext + AEAD tag).
	Len    int        `json:"len"`
	Shards []ShardRef `json:"shards"`
}

// ShardRef names a shard and the box holding it.
type ShardRef struct {
	ID     codec.ShardID `json:"id"`
	Holder peer.ID       `json:"h,omitempty"`
}

// ShardSize is the size of every shard of segment i.
func (m *Manifest) ShardSize(i int) int { return codec.ShardSize(m.Segments[i].Len, m.K) }

// numSegments is how many segments a file of size bytes has: at least
// one, so even an empty file carries an authenticated last segment.
func numSegments(size int64, seg int) int64 {
	if size == 0 {
		return 1
	}
	return (size + int64(seg) - 1) / int64(seg)
}

// Validate checks the manifest's internal consistency, so that code
// working from it never indexes out of range or allocates without bound.
func (m *Manifest) Validate() error {
	if m.Version != ManifestVersion {
		return fmt.Errorf("manifest: unknown version %d", m.Version)
	}
	if err := codec.CheckParams(m.K, m.M); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	if m.SegmentSize < codec.MinSegmentSize || m.SegmentSize > codec.MaxSegmentSize {
		return fmt.Errorf("manifest: segment size %d out of range", m.SegmentSize)
	}
	if codec.ShardSize(m.SegmentSize+codec.Overhead, m.K) > codec.MaxShardSize {
		return errors.New("manifest: shards would exceed the maximum shard size")
	}
	if m.Size < 0 || m.Size > 1<<50 {
		return fmt.Errorf("manifest: size %d out of range", m.Size)
	}
	n := numSegments(m.Size, m.SegmentSize)
	if int64(len(m.Segments)) != n {
		return fmt.Errorf("manifest: %d segments, want %d", len(m.Segments), n)
	}
	if len(m.WrappedKey) != WrappedKeySize {
		return errors.New("manifest: bad wrapped key")
	}
	for i, s := range m.Segments {
		plain := int64(m.SegmentSize)
		if int64(i) == n-1 {
			plain = m.Size - int64(i)*int64(m.SegmentSize)
		}
		if int64(s.Len) != plain+codec.Overhead {
			return fmt.Errorf("manifest: segment %d length %d, want %d", i, s.Len, plain+codec.Overhead)
		}
		if len(s.Shards) != m.K+m.M {
			return fmt.Errorf("manifest: segment %d has %d shards, want %d", i, len(s.Shards), m.K+m.M)
		}
	}
	return nil
}

// PlainLen is the plaintext length of segment i.
func (m *Manifest) PlainLen(i int) int { return m.Segments[i].Len - codec.Overhead }

// MarshalManifest encodes a manifest.
func MarshalManifest(m *Manifest) ([]byte, error) { return json.Marshal(m) }

// UnmarshalManifest decodes and validates a manifest.
func UnmarshalManifest(b []byte) (*Manifest, error) {
	if len(b) > MaxManifestBytes {
		return nil, errors.New("manifest: too large")
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Clone deep-copies the manifest's segments so a copy can be edited.
func (m *Manifest) Clone() *Manifest {
	c := *m
	c.Segments = make([]Segment, len(m.Segments))
	for i, s := range m.Segments {
		c.Segments[i] = Segment{Len: s.Len, Shards: append([]ShardRef(nil), s.Shards...)}
	}
	return &c
}

package codec

import (
	"bytes"
	"crypto/rand"
	"errors"
	"slices"
	"testing"
	"time"
)

func encodeFile(t testing.TB, s *Sealer, c *Coder, data []byte, seg int) []Segment {
	t.Helper()
	var out []Segment
	n := max(1, (len(data)+seg-1)/seg)
	for i := range n {
		chunk := data[i*seg : min(len(data), (i+1)*seg)]
		buf := make([]byte, len(chunk), c.BufSize(len(chunk)))
		copy(buf, chunk)
		sg, err := EncodeSegment(s, c, buf, len(chunk), uint32(i), i == n-1)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, sg)
	}
	return out
}

func TestRoundTripSizes(t *testing.T) {
	const seg = 4096
	for _, km := range [][2]int{{4, 2}, {1, 0}, {3, 3}, {10, 4}} {
		c, err := NewCoder(km[0], km[1])
		if err != nil {
			t.Fatal(err)
		}
		for _, size := range []int{0, 1, 15, 16, 17, seg - 1, seg, seg + 1, 3*seg + 7, 5 * seg} {
			data := make([]byte, size)
			rand.Read(data)
			f := NewFileID()
			s, _ := NewSealer(NewFileKey(), f)
			segs := encodeFile(t, s, c, data, seg)
			var got []byte
			for i, sg := range segs {
				// Lose m shards, data shards first.
				sh := make([][]byte, len(sg.Shards))
				for j := range sh {
					if SumShard(sg.Shards[j]) != sg.IDs[j] {
						t.Fatal("id mismatch")
					}
					if j >= km[1] {
						sh[j] = bytes.Clone(sg.Shards[j])
					}
				}
				got, err = DecodeSegment(s, c, sh, sg.Len, uint32(i), i == len(segs)-1, got)
				if err != nil {
					t.Fatalf("%v size %d seg %d: %v", km, size, i, err)
				}
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("%v size %d: round trip differs", km, size)
			}
		}
	}
}

func TestTooFewShards(t *testing.T) {
	c, _ := NewCoder(4, 2)
	s, _ := NewSealer(NewFileKey(), NewFileID())
	segs := encodeFile(t, s, c, make([]byte, 1000), 4096)
	sh := append([][]byte(nil), segs[0].Shards...)
	sh[0], sh[1], sh[5] = nil, nil, nil
	if _, err := DecodeSegment(s, c, sh, segs[0].Len, 0, true, nil); !errors.Is(err, ErrTooFew) {
		t.Fatalf("got %v, want ErrTooFew", err)
	}
}

func TestAuthFailures(t *testing.T) {
	c, _ := NewCoder(4, 2)
	f := NewFileID()
	key := NewFileKey()
	s, _ := NewSealer(key, f)
	data := make([]byte, 3*4096)
	rand.Read(data)
	segs := encodeFile(t, s, c, data, 4096)
	dec := func(s *Sealer, sg Segment, idx int, last bool) error {
		sh := make([][]byte, len(sg.Shards))
		for j := range sh {
			sh[j] = bytes.Clone(sg.Shards[j])
		}
		_, err := DecodeSegment(s, c, sh, sg.Len, uint32(idx), last, nil)
		return err
	}
	wrong, _ := NewSealer(NewFileKey(), f)
	if err := dec(wrong, segs[0], 0, false); !errors.Is(err, ErrAuth) {
		t.Errorf("wrong key: %v", err)
	}
	otherFile, _ := NewSealer(key, NewFileID())
	if err := dec(otherFile, segs[0], 0, false); !errors.Is(err, ErrAuth) {
		t.Errorf("other file: %v", err)
	}
	if err := dec(s, segs[1], 0, false); !errors.Is(err, ErrAuth) {
		t.Errorf("swapped segments: %v", err)
	}
	if err := dec(s, segs[1], 1, true); !errors.Is(err, ErrAuth) {
		t.Errorf("truncation: %v", err)
	}
	// A corrupted shard that is not detected by its hash (the caller
	// skipped verification) still cannot produce wrong plaintext.
	bad := segs[2]
	bad.Shards = append([][]byte(nil), bad.Shards...)
	bad.Shards[0] = bytes.Clone(bad.Shards[0])
	bad.Shards[0][3] ^= 1
	if err := dec(s, bad, 2, true); !errors.Is(err, ErrAuth) {
		t.Errorf("corrupt shard: %v", err)
	}
	if err := dec(s, segs[2], 2, true); err != nil {
		t.Errorf("good: %v", err)
	}
}

func TestReconstructAll(t *testing.T) {
	c, _ := NewCoder(4, 2)
	s, _ := NewSealer(NewFileKey(), NewFileID())
	sg := encodeFile(t, s, c, make([]byte, 9999), 1<<20)[0]
	sh := make([][]byte, 6)
	for j := range sh {
		sh[j] = bytes.Clone(sg.Shards[j])
	}
	sh[1], sh[4] = nil, nil
	if err := c.Reconstruct(sh, false); err != nil {
		t.Fatal(err)
	}
	for j := range sh {
		if SumShard(sh[j]) != sg.IDs[j] {
			t.Fatalf("shard %d rebuilt differently", j)
		}
	}
}

func TestIDText(t *testing.T) {
	id := SumShard([]byte("x"))
	b, _ := id.MarshalText()
	var back ShardID
	if err := back.UnmarshalText(b); err != nil || back != id {
		t.Fatal(err)
	}
	if _, err := ParseShardID("zz"); err == nil {
		t.Fatal("bad id parsed")
	}
	f := NewFileID()
	g, err := ParseFileID(f.String())
	if err != nil || g != f {
		t.Fatal(err)
	}
}

// BenchmarkPipelineVsAEAD measures the single-box put pipeline (seal,
// Reed-Solomon 4+2, BLAKE3 of every shard) on 4 MiB segments beside the raw
// XChaCha20-Poly1305 speed on the same data, in the same run, and reports
// the ratio pipeline/AEAD.
func BenchmarkPipelineVsAEAD(b *testing.B) {
	const seg = DefaultSegmentSize
	c, _ := NewCoder(DefaultK, DefaultM)
	s, _ := NewSealer(NewFileKey(), NewFileID())
	plain := make([]byte, seg)
	rand.Read(plain)
	buf := make([]byte, seg, c.BufSize(seg))
	raw := make([]byte, 0, seg+Overhead)
	var tPipe, tAEAD time.Duration
	b.SetBytes(seg)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		copy(buf[:seg], plain)
		t0 := time.Now()
		if _, err := EncodeSegment(s, c, buf, seg, uint32(i), false); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		raw = s.Seal(raw[:0], plain, uint32(i), false)
		t2 := time.Now()
		tPipe += t1.Sub(t0)
		tAEAD += t2.Sub(t1)
	}
	n := float64(b.N) * seg / 1e6
	b.ReportMetric(n/tPipe.Seconds(), "pipeline-MB/s")
	b.ReportMetric(n/tAEAD.Seconds(), "aead-MB/s")
	b.ReportMetric(tAEAD.Seconds()/tPipe.Seconds(), "pipeline/aead")
}

// OpenSegment decodes data shards in place: with every data shard at its
// place, with some rebuilt from parity held elsewhere, and with a shard
// handed in from outside the buffer.
func TestOpenSegmentInPlace(t *testing.T) {
	c, _ := NewCoder(4, 2)
	s, _ := NewSealer(NewFileKey(), NewFileID())
	data := make([]byte, 100_000)
	rand.Read(data)
	sg := encodeFile(t, s, c, data, len(data))[0]
	ss := c.ShardSize(sg.Len)
	for _, missing := range [][]int{nil, {0}, {1, 3}, {4, 5}, {0, 5}} {
		buf := make([]byte, ss*c.K())
		shards := make([][]byte, 6)
		for j := range 6 {
			if slices.Contains(missing, j) {
				continue
			}
			if j < 4 {
				shards[j] = buf[j*ss : j*ss+copy(buf[j*ss:], sg.Shards[j])]
			} else {
				shards[j] = bytes.Clone(sg.Shards[j])
			}
		}
		if len(missing) == 0 {
			shards[2] = bytes.Clone(sg.Shards[2]) // not at its place: copied there
		}
		pt, err := OpenSegment(s, c, buf, shards, sg.Len, 0, true)
		if err != nil {
			t.Fatalf("missing %v: %v", missing, err)
		}
		if !bytes.Equal(pt, data) || &pt[0] != &buf[0] {
			t.Fatalf("missing %v: wrong plaintext, or not in place", missing)
		}
	}
	if _, err := OpenSegment(s, c, make([]byte, ss), make([][]byte, 6), sg.Len, 0, true); err == nil {
		t.Fatal("a buffer too small for the data shards was accepted")
	}
}

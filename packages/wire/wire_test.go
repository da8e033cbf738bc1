package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
)

type msg struct {
	A string `json:"a"`
	N int    `json:"n"`
}

func TestRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, msg{"x", 3}); err != nil {
		t.Fatal(err)
	}
	if err := Write(&buf, msg{"y", 4}); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(&buf)
	var m msg
	if err := Read(r, 1024, &m); err != nil || m != (msg{"x", 3}) {
		t.Fatalf("first = %+v, %v", m, err)
	}
	if err := Read(r, 1024, &m); err != nil || m != (msg{"y", 4}) {
		t.Fatalf("second = %+v, %v", m, err)
	}
	if err := Read(r, 1024, &m); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("at end: %v", err)
	}
}

func TestHostileFrames(t *testing.T) {
	var big bytes.Buffer
	if err := Write(&big, msg{A: string(make([]byte, 100))}); err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{
		"too large":  big.Bytes(),
		"truncated":  {10, '{', '"'},
		"bad json":   {3, 'a', 'b', 'c'},
		"unknown":    append([]byte{8}, `{"z": 1}`...),
		"trailing":   append([]byte{4}, `{}{}`...),
		"bad varint": {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
	}
	for name, in := range cases {
		var m msg
		if err := Read(bufio.NewReader(bytes.NewReader(in)), 64, &m); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzRead(f *testing.F) {
	var buf bytes.Buffer
	_ = Write(&buf, msg{"seed", 1})
	f.Add(buf.Bytes())
	f.Add([]byte{0})
	f.Add([]byte{0xff, 0x01})
	f.Fuzz(func(t *testing.T, in []byte) {
		var m msg
		if err := Read(bufio.NewReader(bytes.NewReader(in)), 4096, &m); err != nil {
			return
		}
		// Whatever decodes must encode and decode to the same value.
		var out bytes.Buffer
		if err := Write(&out, m); err != nil {
			t.Fatal(err)
		}
		var m2 msg
		if err := Read(bufio.NewReader(&out), 1<<20, &m2); err != nil || m2 != m {
			t.Fatalf("re-decode %+v -> %+v, %v", m, m2, err)
		}
	})
}

// A peer that declares a large frame and sends little costs what it sent,
// not what it declared (issue 9, item 4).
func TestReadAllocatesAsBytesArrive(t *testing.T) {
	var hdr [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(hdr[:], 60<<20)
	in := append(hdr[:n:n], `{"a":"`...)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range 10 {
		var m msg
		if err := Read(bytes.NewReader(in), 64<<20, &m); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("truncated frame: %v", err)
		}
	}
	runtime.ReadMemStats(&after)
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Fatalf("ten truncated 60 MiB frames allocated %d bytes", d)
	}
}

// Read on a plain reader stops at the frame's end: what follows stays.
func TestReadLeavesTheRest(t *testing.T) {
	var buf bytes.Buffer
	Write(&buf, msg{"x", 1})
	buf.WriteString("tail")
	r := io.MultiReader(&buf) // not an io.ByteReader
	var m msg
	if err := Read(r, 1024, &m); err != nil || m != (msg{"x", 1}) {
		t.Fatal(m, err)
	}
	rest, _ := io.ReadAll(r)
	if string(rest) != "tail" {
		t.Fatalf("rest %q", rest)
	}
}

func TestChunks(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789"), 250_000) // 2.5 MB: three chunks
	var buf bytes.Buffer
	cw := ChunkWriter{&buf}
	if _, err := cw.Write(body); err != nil {
		t.Fatal(err)
	}
	cw.Close()
	framed := buf.Bytes()
	cr := &ChunkReader{R: bytes.NewReader(framed), Limit: int64(len(body))}
	got, err := io.ReadAll(cr)
	if err != nil || !bytes.Equal(got, body) || !cr.Done() {
		t.Fatalf("round trip: %d bytes, %v", len(got), err)
	}
	// Over the limit.
	cr = &ChunkReader{R: bytes.NewReader(framed), Limit: int64(len(body)) - 1}
	if _, err := io.ReadAll(cr); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over the limit: %v", err)
	}
	// Cut off before the end marker, at a chunk boundary and inside one.
	for _, cut := range []int{len(framed) - 1, len(framed) / 2} {
		cr = &ChunkReader{R: bytes.NewReader(framed[:cut]), Limit: 1 << 30}
		if _, err := io.ReadAll(cr); err != ErrCutOff {
			t.Fatalf("cut at %d: %v", cut, err)
		}
	}
	// A chunk declared larger than MaxChunk.
	var h [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(h[:], MaxChunk+1)
	cr = &ChunkReader{R: bytes.NewReader(h[:n]), Limit: 1 << 30}
	if _, err := io.ReadAll(cr); err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Fatalf("huge chunk: %v", err)
	}
}

// FuzzChunks feeds arbitrary bytes to a ChunkReader: it never returns more
// than its limit, and never reports a whole body without the end marker.
func FuzzChunks(f *testing.F) {
	var good bytes.Buffer
	cw := ChunkWriter{&good}
	cw.Write([]byte("hello world"))
	cw.Close()
	f.Add(good.Bytes())
	f.Add([]byte{0})
	f.Add([]byte{5, 'a'})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, in []byte) {
		cr := &ChunkReader{R: bytes.NewReader(in), Limit: 64}
		n, err := io.Copy(io.Discard, cr)
		if n > 64 || cr.Total() != n {
			t.Fatalf("read %d bytes, total %d, limit 64", n, cr.Total())
		}
		if err == nil && !cr.Done() {
			t.Fatal("body accepted without its end marker")
		}
	})
}

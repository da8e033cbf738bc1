package shard

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// seedAuth is a fixed, validly shaped (not validly signed) auth.
var seedAuth = &auth{owner: Owner{1, 2, 3}, ts: 1 << 60, nonce: [16]byte{9}, sig: [64]byte{7}}

// seedGrant is a grant over three shards, signed by a fixed key.
func seedGrant() (*Grant, []ID) {
	key := ed25519.NewKeyFromSeed(make([]byte, 32))
	ids := []ID{Sum([]byte("a")), Sum([]byte("b")), Sum([]byte("c"))}
	g, err := NewGrant(key, peer.ID("recipient-peer-id"), time.Unix(2e9, 0), ids)
	if err != nil {
		panic(err)
	}
	return g, ids
}

func seedRequests() [][]byte {
	id := Sum([]byte("seed"))
	g, ids := seedGrant()
	reqs := []*request{
		{op: opPut, id: id, size: 1234, auth: seedAuth},
		{op: opPut, id: id, size: MaxShardSize, auth: seedAuth},
		{op: opPut, id: id, auth: seedAuth},
		{op: opGet, id: id},
		{op: opDelete, id: id, auth: seedAuth},
		{op: opHas, ids: []ID{id}},
		{op: opHas, ids: []ID{id, Sum(nil), {}}},
		{op: opList, id: id, limit: MaxListBatch, auth: seedAuth},
		{op: opList, limit: 1, auth: seedAuth},
		{op: opGrant, id: ids[2], index: 2, grant: g, proof: GrantProof(ids, 2)},
		{op: opGrant, id: ids[0], index: 0, grant: g, proof: GrantProof(ids, 0)},
	}
	var out [][]byte
	for _, r := range reqs {
		b, err := r.marshal()
		if err != nil {
			panic(err)
		}
		out = append(out, b)
	}
	// Hostile ones.
	out = append(out, nil, []byte{0}, []byte{9}, []byte{byte(opPut)}, []byte{byte(opHas), 0, 0},
		[]byte{byte(opHas), 0xff, 0xff}, append([]byte{byte(opPut)}, bytes.Repeat([]byte{0xff}, 40)...))
	return out
}

func seedResponses() [][]byte {
	rs := []*response{
		{code: codeOK},
		{code: codeContinue},
		{code: codeOK, size: 4096},
		{code: codeOK, have: []bool{true, false, true}},
		{code: codeOK, have: make([]bool, 9)},
		{code: codeRefused, msg: "refused: a is not a friend of b"},
		{code: codeOverQuota, msg: strings.Repeat("q", maxMsg)},
		{code: codeOK, listed: []Listed{{ID: Sum(nil), Age: time.Hour}, {ID: Sum([]byte{1})}}},
		{code: codeBadAuth, msg: "bad owner signature"},
	}
	var out [][]byte
	for _, r := range rs {
		out = append(out, r.marshal())
	}
	out = append(out, nil, []byte{0}, []byte{99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		[]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0xff, 0, 0}, bytes.Repeat([]byte{0xff}, 20))
	return out
}

func seedFrames() [][]byte {
	out := [][]byte{nil, {0}, {5, 1, 2}, {0x80}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}}
	for _, b := range seedResponses()[:4] {
		out = append(out, appendFrame(nil, b))
	}
	return out
}

func TestRequestRoundTrip(t *testing.T) {
	ids := make([]ID, MaxHasBatch)
	for i := range ids {
		ids[i] = Sum([]byte{byte(i), byte(i >> 8)})
	}
	g, gids := seedGrant()
	for _, r := range []*request{
		{op: opPut, id: Sum([]byte("x")), size: 77, auth: seedAuth},
		{op: opGet, id: Sum([]byte("y"))},
		{op: opDelete, id: Sum([]byte("z")), auth: seedAuth},
		{op: opHas, ids: ids},
		{op: opList, id: Sum([]byte("l")), limit: 5, auth: seedAuth},
		{op: opGrant, id: gids[1], index: 1, grant: g, proof: GrantProof(gids, 1)},
	} {
		b, err := r.marshal()
		if err != nil {
			t.Fatal(err)
		}
		framed := appendFrame(nil, b)
		got, err := readRequest(bufio.NewReader(bytes.NewReader(framed)))
		if got != nil {
			got.body = nil
		}
		if err != nil || !reflect.DeepEqual(got, r) {
			t.Fatalf("round trip of op %d: %+v, %v", r.op, got, err)
		}
	}
	for _, r := range []*request{
		{op: opPut, size: MaxShardSize + 1},
		{op: opPut, size: -1},
		{op: opHas},
		{op: opHas, ids: make([]ID, MaxHasBatch+1)},
		{op: opPut, id: Sum([]byte("x")), size: 77}, // unsigned
		{op: opList, limit: MaxListBatch + 1, auth: seedAuth},
		{op: opGrant, id: Sum(nil)},
		{op: 42},
	} {
		if _, err := r.marshal(); err == nil {
			t.Errorf("marshal accepted %+v", r)
		}
	}
	// A put announcing more than MaxShardSize is refused as too large.
	b := append([]byte{byte(opPut)}, make([]byte, 32)...)
	b = append(b, 0, 0, 0, 0, 1, 0, 0, 1)
	b = append(b, make([]byte, authSize)...)
	if _, err := unmarshalRequest(b); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized put: %v", err)
	}
}

func TestResponseRoundTrip(t *testing.T) {
	for _, r := range []*response{
		{code: codeOK, size: MaxShardSize},
		{code: codeOK, have: []bool{false, true, false, false, true, true, true, true, true}},
		{code: codeNotOwner, msg: "nope"},
		{code: codeOK, listed: []Listed{{ID: Sum(nil), Age: 3 * time.Second}}},
	} {
		got, err := readResponse(bufio.NewReader(bytes.NewReader(appendFrame(nil, r.marshal()))))
		if err != nil || !reflect.DeepEqual(got, r) {
			t.Fatalf("round trip: %+v, %v", got, err)
		}
	}
	long := &response{code: codeInternal, msg: strings.Repeat("x", 2*maxMsg)}
	got, err := unmarshalResponse(long.marshal())
	if err != nil || len(got.msg) != maxMsg {
		t.Fatalf("long message: %v, %d", err, len(got.msg))
	}
}

func TestReadFrameLimits(t *testing.T) {
	// A frame longer than the limit is refused before its body is read.
	huge := appendFrame(nil, make([]byte, maxReqFrame+1))
	if _, err := readRequest(bufio.NewReader(bytes.NewReader(huge))); !errors.Is(err, errMalformed) {
		t.Fatalf("oversized frame: %v", err)
	}
	trunc := appendFrame(nil, make([]byte, 40))[:20]
	if _, err := readRequest(bufio.NewReader(bytes.NewReader(trunc))); err == nil {
		t.Fatal("truncated frame accepted")
	}
}

func TestCodesMapToSentinels(t *testing.T) {
	for _, c := range codes {
		if got := codeOf(fmt.Errorf("wrapped: %w", c.err)); got != c.c {
			t.Errorf("codeOf(%v) = %d, want %d", c.err, got, c.c)
		}
		re := &RemoteError{code: c.c}
		if !errors.Is(re, c.err) {
			t.Errorf("RemoteError code %d is not %v", c.c, c.err)
		}
	}
	if !errors.Is(&RemoteError{code: codeCorrupt}, ErrHashMismatch) {
		t.Error("remote corrupt is not a hash mismatch")
	}
}

func FuzzRequest(f *testing.F) {
	for _, b := range seedRequests() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := unmarshalRequest(b)
		if err != nil {
			return
		}
		// Strict decoding: what decodes re-encodes to the same bytes.
		out, err := r.marshal()
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("decoded %x to %+v, which encodes to %x, %v", b, r, out, err)
		}
	})
}

func FuzzResponse(f *testing.F) {
	for _, b := range seedResponses() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := unmarshalResponse(b)
		if err != nil {
			return
		}
		if r.size < 0 || r.size > MaxShardSize || len(r.have) > MaxHasBatch || len(r.msg) > maxMsg || len(r.listed) > MaxListBatch {
			t.Fatalf("decoded out-of-bounds response %+v", r)
		}
		if out := r.marshal(); !bytes.Equal(out, b) {
			t.Fatalf("decoded %x to %+v, which encodes to %x", b, r, out)
		}
	})
}

func FuzzFrame(f *testing.F) {
	for _, b := range seedFrames() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		br := bufio.NewReader(bytes.NewReader(b))
		body, err := readFrame(br, maxRespFrame)
		if err != nil {
			return
		}
		if len(body) > maxRespFrame {
			t.Fatalf("frame of %d bytes over the limit", len(body))
		}
		again, err := readFrame(bufio.NewReader(bytes.NewReader(appendFrame(nil, body))), maxRespFrame)
		if err != nil || !bytes.Equal(again, body) {
			t.Fatalf("frame does not round trip: %v", err)
		}
		// Whatever a frame holds, the response decoder must not panic.
		unmarshalResponse(body)
		unmarshalRequest(body)
	})
}

// TestWriteSeedCorpus regenerates testdata/fuzz from the seeds above when
// SHARD_WRITE_CORPUS=1; plain `go test` runs those files as test cases.
func TestWriteSeedCorpus(t *testing.T) {
	if os.Getenv("SHARD_WRITE_CORPUS") != "1" {
		t.Skip("set SHARD_WRITE_CORPUS=1 to rewrite testdata/fuzz")
	}
	for name, seeds := range map[string][][]byte{
		"FuzzRequest": seedRequests(), "FuzzResponse": seedResponses(), "FuzzFrame": seedFrames(),
	} {
		dir := filepath.Join("testdata", "fuzz", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, b := range seeds {
			data := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

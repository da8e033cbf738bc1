package cloud

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"oepc.dev/oepcos/packages/cloud/codec"
	"oepc.dev/oepcos/packages/cloud/index"
	"oepc.dev/oepcos/packages/cloud/keys"
	"oepc.dev/oepcos/packages/shard"
	"oepc.dev/oepcos/packages/wire"
)

func frame(v any) []byte {
	var b bytes.Buffer
	writeMsg(&b, v)
	return b.Bytes()
}

// sampleManifest is the manifest of a file put through the pipeline.
func sampleManifest(t testing.TB) []byte {
	e := newEnvTB(t)
	e.put(t, "/m", randBytes(2*seg+1), PutOptions{})
	man, err := e.s.Manifest("/m")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := index.MarshalManifest(man)
	return b
}

func FuzzShareToken(f *testing.F) {
	man := sampleManifest(f)
	tok := ShareToken{V: 1, ID: "00112233445566778899aabbccddeeff", Name: "a", Manifest: man, Key: make([]byte, 32)}
	b, _ := json.Marshal(tok)
	f.Add(b)
	g, _ := shard.NewGrant(ed25519.NewKeyFromSeed(make([]byte, 32)), peer.ID("recipient"), time.Unix(2e9, 0), []shard.ID{{1}, {2}})
	tok.Grant = g.Marshal()
	b, _ = json.Marshal(tok)
	f.Add(b)
	f.Add([]byte(`{"v":1,"id":"x","manifest":{}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tok, m, err := UnmarshalShareToken(b)
		if err != nil {
			return
		}
		if len(tok.Key) != 32 || m.Validate() != nil {
			t.Fatal("accepted a bad token")
		}
		if tok.Grant != nil {
			if _, err := shard.UnmarshalGrant(tok.Grant); err != nil {
				t.Fatal("accepted a bad grant")
			}
		}
	})
}

func FuzzRootRecord(f *testing.F) {
	o := keys.New()
	r := &RootRecord{Pub: o.PublicKey(), Seq: 7, Blob: []byte("sealed")}
	r.Sig = signRoot(o, r)
	b, _ := json.Marshal(r)
	f.Add(b)
	f.Add([]byte(`{"pub":"","seq":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := UnmarshalRootRecord(b)
		if err != nil {
			return
		}
		if r.Verify() != nil {
			t.Fatal("accepted an unverified record")
		}
	})
}

// FuzzDeliverStream feeds arbitrary bytes to the receiving end of the
// deliver protocol: header, then chunked body.
func FuzzDeliverStream(f *testing.F) {
	var good bytes.Buffer
	good.Write(frame(deliverHeader{Name: "photo.jpg", Size: 11}))
	cw := wire.ChunkWriter{W: &good}
	cw.Write([]byte("hello world"))
	cw.Close()
	f.Add(good.Bytes())
	f.Add(frame(deliverHeader{Name: "../../etc/passwd", Size: -1}))
	f.Add(frame(deliverHeader{Name: "x", Size: -2}))
	f.Add(append(frame(deliverHeader{Name: "x", Size: -1}), 0xff, 0xff, 0xff, 0xff))
	f.Add(append(frame(deliverHeader{Name: "x", Size: 5}), 5, 'a'))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		h, err := decodeDeliverHeader(r)
		if err != nil {
			return
		}
		if n, err := cleanName(h.Name); err != nil || n != h.Name || h.Size < -1 {
			t.Fatalf("bad header %+v accepted", h)
		}
		cr := &wire.ChunkReader{R: r, Limit: 1 << 20}
		n, err := io.Copy(io.Discard, cr)
		if n > 1<<20 {
			t.Fatal("limit exceeded")
		}
		if err == nil && !cr.Done() {
			t.Fatal("body accepted without its end marker")
		}
	})
}

// FuzzMessages decodes arbitrary framed share and root requests.
func FuzzMessages(f *testing.F) {
	f.Add(frame(shareReq{Op: "token", ID: "00112233445566778899aabbccddeeff"}))
	f.Add(frame(rootReq{Op: "get", Pub: make([]byte, 32)}))
	f.Add(frame(shareReq{Op: "shard", ID: "00112233445566778899aabbccddeeff", Shard: codec.ShardID{1}}))
	f.Add(frame(shareResp{reply: reply{OK: true}, Size: 2 << 20}))
	f.Add(frame(reply{Error: msgNotFriend}))
	f.Add(frame(shareReq{Op: "offer", Token: &ShareToken{V: 1, ID: "00112233445566778899aabbccddeeff", Key: make([]byte, 32)}}))
	var h [binary.MaxVarintLen64]byte
	f.Add(h[:binary.PutUvarint(h[:], 1<<31)])
	f.Fuzz(func(t *testing.T, b []byte) {
		var s shareReq
		if readMsg(bytes.NewReader(b), &s, maxMsg) == nil && s.Token != nil {
			s.Token.check()
		}
		var sr shareResp
		readMsg(bytes.NewReader(b), &sr, maxMsg)
		var rp reply
		readMsg(bytes.NewReader(b), &rp, maxMsg)
		var r rootReq
		if readMsg(bytes.NewReader(b), &r, maxMsg) == nil && r.Record != nil {
			r.Record.Verify()
		}
		parseShareAddress(string(b))
	})
}

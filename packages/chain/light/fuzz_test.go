package light

import (
	"bytes"
	"crypto/sha256"
	"testing"

	"oepc.dev/oepcos/packages/chain/app"
	"oepc.dev/oepcos/packages/chain/tx"
	"oepc.dev/oepcos/packages/wire"
)

func frame(t testing.TB, v any) []byte {
	var b bytes.Buffer
	if err := wire.Write(&b, v); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// The super node's request decoder: any bytes give a request or an error.
func FuzzReadRequest(f *testing.F) {
	f.Add(frame(f, Request{Op: OpStatus}))
	f.Add(frame(f, Request{Op: OpLightBlock, Height: 7}))
	f.Add(frame(f, Request{Op: OpQuery, Path: "/account", Data: make([]byte, 20), Height: 3}))
	f.Add(frame(f, Request{Op: OpBroadcast, Tx: []byte("OETX")}))
	f.Add(frame(f, Request{Op: "nope"}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := ReadRequest(bytes.NewReader(b))
		if err != nil {
			return
		}
		if q.Height < 0 {
			t.Fatalf("negative height accepted: %+v", q)
		}
		if _, err := ReadRequest(bytes.NewReader(frame(t, q))); err != nil {
			t.Fatalf("an accepted request does not round-trip: %v", err)
		}
	})
}

// The box's answer decoders, light blocks included.
func FuzzReadResponse(f *testing.F) {
	f.Add(frame(f, Response{ChainID: "oe-test", Latest: 9}))
	f.Add(frame(f, Response{LightBlock: []byte{0x0a, 0x02, 0x0a, 0x00}}))
	f.Add(frame(f, Response{Query: &QueryAnswer{Height: 3, Value: []byte{1}, Proof: []byte{0x0a, 0x00}}}))
	f.Add(frame(f, Response{Error: "x", ErrorKind: ErrKindTooHigh}))
	f.Add(frame(f, Response{TxHeight: 3, TxProof: []byte{0x0a, 0x00}, TxResult: []byte{0x08, 0x09}, ResultProof: []byte{0x08, 0x01}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ReadResponse(bytes.NewReader(b))
		if err != nil {
			return
		}
		if a.LightBlock != nil {
			if lb, err := DecodeLightBlock(a.LightBlock); err == nil {
				_ = lb.ValidateBasic("oe-test")
			}
		}
	})
}

func FuzzDecodeLightBlock(f *testing.F) {
	f.Add([]byte{0x0a, 0x02, 0x0a, 0x00})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if lb, err := DecodeLightBlock(b); err == nil {
			_ = lb.ValidateBasic("oe-test")
		}
	})
}

// The result and its proof as a super node sends them: any bytes give an
// error or a result that verifies against the hash.
func FuzzVerifyResult(f *testing.F) {
	f.Add([]byte{0x08, 0x09}, []byte{0x08, 0x01, 0x10, 0x00}, int64(0), int64(1))
	f.Add([]byte{}, []byte{}, int64(0), int64(0))
	root := make([]byte, 32)
	f.Fuzz(func(t *testing.T, res, prf []byte, index, total int64) {
		if _, err := verifyResult(root, index, total, res, prf); err == nil {
			t.Fatalf("a result verified against a made-up root")
		}
	})
}

// History items from a proven entry and the bytes a super node sent.
func FuzzItemOf(f *testing.F) {
	f.Add([]byte("OETX"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var e app.HistoryEntry
		e.Hash = sha256.Sum256(raw)
		_, _ = itemOf(tx.Address{}, 0, e, raw)
	})
}

package light

import (
	"bytes"
	"testing"

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

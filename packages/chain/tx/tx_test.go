package tx

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"
)

func key(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, 32))
}

func samples(t testing.TB) []*Tx {
	k := key(1)
	consumer := key(2)
	rc := Receipt{Kind: KindRelayBytes, Epoch: 7, Provider: AddressOf(key(3).Public().(ed25519.PublicKey)), Units: 1 << 20, ID: 9, Memo: []byte("session")}
	rc.Sign("oe-test", consumer)
	msgs := []Msg{
		Transfer{To: Address{1, 2, 3}, Amount: 12345},
		RegisterCandidate{ConsPubKey: key(4).Public().(ed25519.PublicKey), Moniker: "cdn-1", SelfStake: 1000},
		Delegate{Candidate: Address{9}, Amount: 5},
		Undelegate{Candidate: Address{9}, Amount: 5},
		Unjail{},
		Credit{Receipts: []Receipt{rc}},
	}
	var out []*Tx
	for i, m := range msgs {
		tx := &Tx{ChainID: "oe-test", Nonce: uint64(i), Fee: 10, Msg: m}
		if err := tx.Sign(k); err != nil {
			t.Fatal(err)
		}
		out = append(out, tx)
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	for _, tx := range samples(t) {
		raw, err := tx.Encode()
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(raw)
		if err != nil {
			t.Fatalf("%s: %v", tx.Msg.Type(), err)
		}
		if err := got.Verify(); err != nil {
			t.Fatalf("%s: %v", tx.Msg.Type(), err)
		}
		again, _ := got.Encode()
		if !bytes.Equal(raw, again) {
			t.Fatalf("%s: re-encoding differs", tx.Msg.Type())
		}
		if got.Sender() != tx.Sender() || got.Nonce != tx.Nonce || got.Fee != tx.Fee {
			t.Fatalf("%s: fields differ", tx.Msg.Type())
		}
		if c, ok := got.Msg.(Credit); ok {
			if err := c.Receipts[0].Verify("oe-test"); err != nil {
				t.Fatal(err)
			}
			if err := c.Receipts[0].Verify("other-chain"); err == nil {
				t.Fatal("receipt verified under another chain ID")
			}
		}
	}
}

func TestTamperAndMalformed(t *testing.T) {
	tx := samples(t)[0]
	raw, _ := tx.Encode()
	// Every single-byte change either fails to decode or fails to verify.
	for i := range raw {
		b := bytes.Clone(raw)
		b[i] ^= 0x40
		got, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("byte %d: %v is not ErrMalformed", i, err)
			}
			continue
		}
		if got.Verify() == nil {
			t.Fatalf("byte %d flipped and still verifies", i)
		}
	}
	for n := 0; n < len(raw); n++ {
		if _, err := Decode(raw[:n]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
	if _, err := Decode(append(bytes.Clone(raw), 0)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("trailing byte: %v", err)
	}
	// A non-minimal uvarint for the chain ID length (0x87 0x00 = 7).
	b := append([]byte{}, raw[:5]...)
	b = append(b, 0x87, 0x00)
	b = append(b, raw[6:]...)
	if _, err := Decode(b); !errors.Is(err, ErrMalformed) {
		t.Fatalf("non-minimal length: %v", err)
	}
}

func TestEncodeRefusesWhatDecodeWould(t *testing.T) {
	k := key(1)
	bad := []Msg{
		RegisterCandidate{ConsPubKey: []byte{1, 2}, Moniker: "x"},
		RegisterCandidate{ConsPubKey: key(2).Public().(ed25519.PublicKey), Moniker: string(make([]byte, MaxMonikerLen+1))},
		Credit{},
		Credit{Receipts: make([]Receipt, MaxReceipts+1)},
	}
	for _, m := range bad {
		tx := &Tx{ChainID: "c", Msg: m}
		if err := tx.Sign(k); !errors.Is(err, ErrMalformed) {
			t.Errorf("%T: signed: %v", m, err)
		}
	}
	if err := (&Tx{ChainID: "", Msg: Unjail{}}).Sign(k); !errors.Is(err, ErrMalformed) {
		t.Errorf("empty chain ID signed: %v", err)
	}
}

func TestAddress(t *testing.T) {
	a := AddressOf(key(1).Public().(ed25519.PublicKey))
	b, err := ParseAddress(a.String())
	if err != nil || a != b {
		t.Fatalf("%v %v", b, err)
	}
	if _, err := ParseAddress("abcd"); err == nil {
		t.Fatal("short address parsed")
	}
}

func FuzzDecode(f *testing.F) {
	for _, tx := range samples(f) {
		raw, _ := tx.Encode()
		f.Add(raw)
	}
	f.Add([]byte("OETX"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		tx, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		// What decodes re-encodes to the same bytes: one tx, one encoding.
		again, err := tx.Encode()
		if err != nil {
			t.Fatalf("decoded tx does not encode: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs")
		}
		_ = tx.Verify()
	})
}

package app

import (
	"bytes"
	"testing"
)

// FuzzDecodeState: the decoders of stored values (what a light node reads
// from a proven query) never panic, and what they accept re-encodes to the
// same bytes.
func FuzzDecodeState(f *testing.F) {
	c := Candidate{Moniker: "cdn", ConsPubKey: make([]byte, 32), Stake: 5, Jailed: true, JailedUntil: 9}
	f.Add(c.encode())
	f.Add(encodeValidators([]Validator{{ConsPubKey: make([]byte, 32), Power: 3}}))
	f.Add(Account{Balance: 1, Nonce: 2}.encode())
	f.Add(DefaultParams().encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, err := DecodeCandidate(b); err == nil && (c.Jailed == (b[len(b)-10] == 1)) && (c.Tombstoned == (b[len(b)-9] == 1)) {
			if b[len(b)-10] <= 1 && b[len(b)-9] <= 1 && !bytes.Equal(c.encode(), b) {
				t.Fatal("candidate re-encodes differently")
			}
		}
		if vs, err := DecodeValidators(b); err == nil && !bytes.Equal(encodeValidators(vs), b) {
			t.Fatal("validators re-encode differently")
		}
		if a, err := DecodeAccount(b); err == nil && !bytes.Equal(a.encode(), b) {
			t.Fatal("account re-encodes differently")
		}
		if p, err := decodeParams(b); err == nil && !bytes.Equal(p.encode(), b) {
			t.Fatal("params re-encode differently")
		}
	})
}

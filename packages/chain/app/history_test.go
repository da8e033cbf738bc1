package app

import (
	"crypto/sha256"
	"testing"

	"oepc.dev/oepcos/packages/chain/proof"
	"oepc.dev/oepcos/packages/chain/tx"
)

// The history records sent transactions (failed ones too) for the sender
// and successful transfers for the recipient, with proofs.
func TestHistory(t *testing.T) {
	hs := newHarness(t, 3, testParams())
	alice, bob := addr(hs.alice), addr(key(201))
	t1 := hs.tx(hs.alice, tx.Transfer{To: bob, Amount: 100})
	t2 := hs.tx(hs.alice, tx.Undelegate{Candidate: addr(hs.ops[0]), Amount: 1}) // fails: no delegation
	res := hs.block(nil, t1, t2, []byte("junk"))
	if res[0].Code != CodeOK || res[1].Code != CodeNoDelegation {
		t.Fatalf("codes %d %d", res[0].Code, res[1].Code)
	}
	h1 := uint64(hs.h)
	t3 := signTx(t, chainID, key(201), 0, 10, tx.Transfer{To: alice, Amount: 5})
	if r := hs.block(nil, t3); r[0].Code != CodeOK {
		t.Fatalf("bob's transfer: %d", r[0].Code)
	}
	h2 := uint64(hs.h)
	hs.block(nil)

	want := map[tx.Address][]HistoryEntry{
		alice: {{h1, sha256.Sum256(t1), CodeOK}, {h1, sha256.Sum256(t2), CodeNoDelegation}, {h2, sha256.Sum256(t3), CodeOK}},
		bob:   {{h1, sha256.Sum256(t1), CodeOK}, {h2, sha256.Sum256(t3), CodeOK}},
	}
	for a, entries := range want {
		q := hs.query(PathStore, HistoryCountKey(a))
		n, err := DecodeUint64(q.Value)
		if err != nil || n != uint64(len(entries)) {
			t.Fatalf("%s: %d entries (%v), want %d", a, n, err, len(entries))
		}
		for i, e := range entries {
			k := HistoryKey(a, uint64(i))
			q := hs.query(PathStore, k)
			got, err := DecodeHistoryEntry(q.Value)
			if err != nil || got != e {
				t.Fatalf("%s entry %d: %+v %v, want %+v", a, i, got, err, e)
			}
			if err := proof.Verify(hs.hash, k, q.Value, q.ProofOps); err != nil {
				t.Fatalf("%s entry %d: proof: %v", a, i, err)
			}
		}
		// The entry after the last is proven absent.
		k := HistoryKey(a, uint64(len(entries)))
		q = hs.query(PathStore, k)
		if q.Value != nil || proof.Verify(hs.hash, k, nil, q.ProofOps) != nil {
			t.Fatalf("%s: entry past the end: %x", a, q.Value)
		}
	}
	if _, err := DecodeHistoryEntry(make([]byte, 43)); err == nil {
		t.Fatal("a short entry decoded")
	}
}

package app

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math/big"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"
	cmtcrypto "github.com/cometbft/cometbft/proto/tendermint/crypto"
	ics23 "github.com/cosmos/ics23/go"

	"oepc.dev/oepcos/packages/chain/proof"
	"oepc.dev/oepcos/packages/chain/tx"
)

func floorSqrtOK(r0, n0, n, r uint64) bool {
	b := func(v uint64) *big.Int { return new(big.Int).SetUint64(v) }
	lhs := new(big.Int).Mul(b(r0), b(r0))
	lhs.Mul(lhs, b(n0))
	lo := new(big.Int).Mul(b(r), b(r))
	lo.Mul(lo, b(n))
	hi := new(big.Int).Add(b(r), big.NewInt(1))
	hi.Mul(hi, hi)
	hi.Mul(hi, b(n))
	return lo.Cmp(lhs) <= 0 && lhs.Cmp(hi) < 0
}

func (hs *harness) query(path string, data []byte) *abci.ResponseQuery {
	hs.t.Helper()
	r, err := hs.a.Query(context.Background(), &abci.RequestQuery{Path: path, Data: data, Prove: true})
	if err != nil {
		hs.t.Fatal(err)
	}
	if r.Code != CodeOK {
		hs.t.Fatalf("query %s: %d %s", path, r.Code, r.Log)
	}
	if r.Height != hs.h {
		hs.t.Fatalf("query at %d, latest is %d", r.Height, hs.h)
	}
	return r
}

func TestProofs(t *testing.T) {
	hs := newHarness(t, 3, testParams())
	bob := addr(key(201))
	consumer := key(202)
	hs.block(nil, hs.tx(hs.alice, tx.Transfer{To: bob, Amount: 77}))
	rc := tx.Receipt{Kind: tx.KindShardBytes, Epoch: 0, Provider: bob, Units: 4096, ID: 1}
	rc.Sign(chainID, consumer)
	hs.block(nil, hs.tx(hs.alice, tx.Credit{Receipts: []tx.Receipt{rc}}))
	root := hs.hash

	credit := binary.BigEndian.AppendUint64(nil, 0)
	credit = append(credit, bob[:]...)
	credit = binary.BigEndian.AppendUint16(credit, tx.KindShardBytes)
	for _, q := range []struct {
		path string
		data []byte
	}{
		{PathAccount, bob[:]},
		{PathCandidate, addr(hs.ops[1]).Bytes()},
		{PathValidators, nil},
		{PathCredit, credit},
		{PathDelegation, append(addr(hs.ops[0]).Bytes(), addr(hs.ops[0]).Bytes()...)},
	} {
		r := hs.query(q.path, q.data)
		if r.Value == nil {
			t.Fatalf("%s: no value", q.path)
		}
		if err := proof.Verify(root, r.Key, r.Value, r.ProofOps); err != nil {
			t.Fatalf("%s: %v", q.path, err)
		}
		// ics23 itself agrees, with the spec IAVL proofs are made for.
		var cp ics23.CommitmentProof
		if err := cp.Unmarshal(r.ProofOps.Ops[0].Data); err != nil || !ics23.VerifyMembership(ics23.IavlSpec, root, &cp, r.Key, r.Value) {
			t.Fatalf("%s: ics23 refuses the proof (%v)", q.path, err)
		}
		// A changed value, another root, another key: refused.
		v := bytes.Clone(r.Value)
		v[len(v)-1] ^= 1
		if err := proof.Verify(root, r.Key, v, r.ProofOps); !errors.Is(err, proof.ErrInvalid) {
			t.Fatalf("%s: tampered value: %v", q.path, err)
		}
		other := bytes.Clone(root)
		other[0] ^= 1
		if err := proof.Verify(other, r.Key, r.Value, r.ProofOps); !errors.Is(err, proof.ErrInvalid) {
			t.Fatalf("%s: other root: %v", q.path, err)
		}
		if err := proof.Verify(root, r.Key, nil, r.ProofOps); !errors.Is(err, proof.ErrInvalid) {
			t.Fatalf("%s: existing key proven absent: %v", q.path, err)
		}
	}
	if acc, _ := DecodeAccount(hs.query(PathAccount, bob[:]).Value); acc.Balance != 77 {
		t.Fatalf("bob: %+v", acc)
	}
	if n, _ := DecodeUint64(hs.query(PathCredit, credit).Value); n != 4096 {
		t.Fatalf("credit %d", n)
	}

	// Absence: accounts before the first, between two and after the last key.
	for _, a := range []tx.Address{{}, {0x7f, 1}, {0xff, 0xff, 0xff}} {
		r := hs.query(PathAccount, a[:])
		if r.Value != nil {
			t.Fatalf("account %s exists", a)
		}
		if err := proof.Verify(root, r.Key, nil, r.ProofOps); err != nil {
			t.Fatalf("absence of %s: %v", a, err)
		}
		// The absence proof does not prove absence of a neighbour that exists,
		// nor stand for another key.
		if err := proof.Verify(root, AccountKey(bob), nil, r.ProofOps); !errors.Is(err, proof.ErrInvalid) {
			t.Fatalf("absence proof reused for another key: %v", err)
		}
		if err := proof.Verify(root, r.Key, []byte("x"), r.ProofOps); !errors.Is(err, proof.ErrInvalid) {
			t.Fatalf("absence proof taken as existence: %v", err)
		}
	}
	// A forged absence proof: bob's key claimed absent with real neighbours
	// on each side of it that are not adjacent (bob lies between them).
	var accts []tx.Address
	hs.a.st().each(prefixAccount, func(k, _ []byte) { accts = append(accts, tx.Address(k[len(prefixAccount):])) })
	if len(accts) < 3 {
		t.Fatalf("%d accounts", len(accts))
	}
	bob = accts[len(accts)/2] // one with neighbours on both sides
	below, above := bob, bob
	below[19]--
	above[19]++
	nonexist := func(a tx.Address) *ics23.NonExistenceProof {
		r := hs.query(PathAccount, a[:])
		var cp ics23.CommitmentProof
		if err := cp.Unmarshal(r.ProofOps.Ops[0].Data); err != nil || cp.GetNonexist() == nil {
			t.Fatalf("no absence proof for %s: %v", a, err)
		}
		return cp.GetNonexist()
	}
	left, right := nonexist(below).Left, nonexist(above).Right
	if left == nil || right == nil {
		t.Fatal("bob has no neighbours to forge with")
	}
	forged := &ics23.CommitmentProof{Proof: &ics23.CommitmentProof_Nonexist{Nonexist: &ics23.NonExistenceProof{
		Key: AccountKey(bob), Left: left, Right: right}}}
	bz, _ := forged.Marshal()
	ops := &cmtcrypto.ProofOps{Ops: []cmtcrypto.ProofOp{{Type: proof.OpType, Key: AccountKey(bob), Data: bz}}}
	if err := proof.Verify(root, AccountKey(bob), nil, ops); !errors.Is(err, proof.ErrInvalid) {
		t.Fatalf("forged absence accepted: %v", err)
	}
	// Bad queries have their codes.
	for _, q := range []struct {
		path string
		data []byte
		code uint32
	}{{"/nope", nil, CodeUnknownQuery}, {PathAccount, []byte{1}, CodeBadQuery}} {
		r, _ := hs.a.Query(context.Background(), &abci.RequestQuery{Path: q.path, Data: q.data})
		if r.Code != q.code {
			t.Errorf("%s: code %d, want %d", q.path, r.Code, q.code)
		}
	}
	r, _ := hs.a.Query(context.Background(), &abci.RequestQuery{Path: PathAccount, Data: bob[:], Height: 99})
	if r.Code != CodeBadQuery {
		t.Errorf("future height: code %d", r.Code)
	}
	// A past height answers with that height's state.
	r, _ = hs.a.Query(context.Background(), &abci.RequestQuery{Path: PathCredit, Data: credit, Height: 1, Prove: true})
	if r.Code != CodeOK || r.Value != nil || r.Height != 1 {
		t.Fatalf("credit at height 1: %+v", r)
	}
}

func TestCredits(t *testing.T) {
	p := testParams()
	hs := newHarness(t, 3, p)
	prov, consumer := addr(key(210)), key(211)
	mk := func(kind uint16, epoch, units, id uint64) tx.Receipt {
		rc := tx.Receipt{Kind: kind, Epoch: epoch, Provider: prov, Units: units, ID: id}
		rc.Sign(chainID, consumer)
		return rc
	}
	credit := func(rs ...tx.Receipt) uint32 {
		return hs.block(nil, hs.tx(hs.alice, tx.Credit{Receipts: rs}))[0].Code
	}
	if c := credit(mk(tx.KindRelayBytes, 0, 100, 1), mk(tx.KindRelayBytes, 0, 50, 2)); c != CodeOK {
		t.Fatalf("credit: %d", c)
	}
	if got := hs.a.st().uint(CreditKey(0, prov, tx.KindRelayBytes)); got != 150 {
		t.Fatalf("credited %d", got)
	}
	selfSigned := tx.Receipt{Kind: tx.KindRelayBytes, Epoch: 0, Units: 1, ID: 9}
	selfSigned.Sign(chainID, key(210))
	selfSigned.Provider = prov
	selfSigned.Sign(chainID, key(210))
	otherChain := mk(tx.KindRelayBytes, 0, 1, 10)
	otherChain.Sign("other", consumer)
	for name, c := range map[string]struct {
		rs   []tx.Receipt
		code uint32
	}{
		"duplicate":       {[]tx.Receipt{mk(tx.KindRelayBytes, 0, 100, 1)}, CodeDuplicateReceipt},
		"duplicate in tx": {[]tx.Receipt{mk(tx.KindRelayBytes, 0, 1, 3), mk(tx.KindRelayBytes, 0, 1, 3)}, CodeDuplicateReceipt},
		"unknown kind":    {[]tx.Receipt{mk(999, 0, 1, 4)}, CodeBadReceipt},
		"future epoch":    {[]tx.Receipt{mk(tx.KindRelayBytes, 5, 1, 5)}, CodeBadReceipt},
		"self-signed":     {[]tx.Receipt{selfSigned}, CodeBadReceipt},
		"other chain":     {[]tx.Receipt{otherChain}, CodeBadReceipt},
		"zero units":      {[]tx.Receipt{mk(tx.KindShardBytes, 0, 0, 6)}, CodeBadReceipt},
	} {
		if got := credit(c.rs...); got != c.code {
			t.Errorf("%s: code %d, want %d", name, got, c.code)
		}
	}
	if got := hs.a.st().uint(CreditKey(0, prov, tx.KindRelayBytes)); got != 150 {
		t.Fatalf("failed receipts credited: %d", got)
	}
	// Late receipts (last epoch) are taken; older ones not.
	for hs.h < int64(p.EpochLength)*2 {
		hs.block(nil)
	}
	if c := credit(mk(tx.KindRelayBytes, 1, 5, 20)); c != CodeOK { // height 11 is in epoch 2
		t.Fatalf("last epoch's receipt: %d", c)
	}
	if c := credit(mk(tx.KindRelayBytes, 0, 5, 21)); c != CodeBadReceipt {
		t.Fatalf("two epochs old: %d", c)
	}
}

// TestDeterministicAndRestart feeds the same blocks to two apps (one
// reopened from its database half way) and expects the same app hashes.
func TestDeterministicAndRestart(t *testing.T) {
	p := testParams()
	a1 := newHarness(t, 4, p)
	a2 := newHarness(t, 4, p)
	for i := range 25 {
		var txs [][]byte
		if i%3 == 0 {
			txs = append(txs, signTx(t, chainID, a1.alice, uint64(i/3), 10, tx.Delegate{Candidate: addr(a1.ops[i%4]), Amount: uint64(1+i) * BaseUnitsPerOEC}))
		}
		if i == 10 {
			a1.absent[2], a2.absent[2] = true, true
		}
		a1.block(nil, txs...)
		a2.block(nil, txs...)
		if !bytes.Equal(a1.hash, a2.hash) {
			t.Fatalf("height %d: app hashes differ", a1.h)
		}
		if i == 12 {
			// Restart the second from its database.
			db := a2.db
			a, err := New(Config{DB: db})
			if err != nil {
				t.Fatal(err)
			}
			info, _ := a.Info(context.Background(), &abci.RequestInfo{})
			if info.LastBlockHeight != a2.h || !bytes.Equal(info.LastBlockAppHash, a2.hash) {
				t.Fatalf("after restart: height %d hash %X; want %d %X", info.LastBlockHeight, info.LastBlockAppHash, a2.h, a2.hash)
			}
			a2.a = a
		}
	}
	if len(a1.set) == 4 {
		t.Fatal("the absent validator was never jailed: the test did not exercise downtime")
	}
}

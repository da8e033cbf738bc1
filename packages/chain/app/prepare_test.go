package app

import (
	"context"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"

	"oepc.dev/oepcos/packages/chain/tx"
)

// The proposer leaves out of its block what would fail its checks there:
// a nonce out of order, a replay, an amount over the balance left by the
// account's earlier transactions in the block, malformed bytes; it keeps
// the rest in order and within MaxTxBytes. The block it builds executes
// without a failure.
func TestPrepareProposalLeavesOutFailures(t *testing.T) {
	hs := newHarness(t, 3, testParams())
	hs.block(nil)
	a := hs.alice
	bob := key(77)
	to := addr(key(9))
	n0 := signTx(t, chainID, a, 0, 10, tx.Transfer{To: to, Amount: 1})
	n1 := signTx(t, chainID, a, 1, 10, tx.Transfer{To: to, Amount: 2})
	n2 := signTx(t, chainID, a, 2, 10, tx.Transfer{To: to, Amount: 3})
	n3 := signTx(t, chainID, a, 3, 10, tx.Transfer{To: to, Amount: 4})
	broke := signTx(t, chainID, bob, 0, 10, tx.Transfer{To: to, Amount: 1})
	all := hs.balance(addr(a))
	spendAll := signTx(t, chainID, a, 2, 10, tx.Transfer{To: to, Amount: all}) // over what n0 and n1 left
	in := [][]byte{n0, n2, n1, n0, []byte("junk"), broke, spendAll, n2, n3}
	res, err := hs.a.PrepareProposal(context.Background(), &abci.RequestPrepareProposal{Txs: in, MaxTxBytes: 1 << 20, Height: hs.h + 1})
	if err != nil {
		t.Fatal(err)
	}
	want := [][]byte{n0, n1, n2, n3}
	if len(res.Txs) != len(want) {
		t.Fatalf("proposal has %d transactions, want %d", len(res.Txs), len(want))
	}
	for i := range want {
		if string(res.Txs[i]) != string(want[i]) {
			t.Fatalf("proposal transaction %d is not the one expected", i)
		}
	}
	for i, r := range hs.block(nil, res.Txs...) {
		if r.Code != CodeOK {
			t.Fatalf("transaction %d of the proposal failed: %d %s", i, r.Code, r.Log)
		}
	}
	// MaxTxBytes: the proposal stops before the transaction that would
	// go over.
	m0 := signTx(t, chainID, a, 4, 10, tx.Transfer{To: to, Amount: 1})
	m1 := signTx(t, chainID, a, 5, 10, tx.Transfer{To: to, Amount: 1})
	res, err = hs.a.PrepareProposal(context.Background(), &abci.RequestPrepareProposal{Txs: [][]byte{m0, m1}, MaxTxBytes: int64(len(m0) + len(m1) - 1)})
	if err != nil || len(res.Txs) != 1 {
		t.Fatalf("with room for one: %d transactions, %v", len(res.Txs), err)
	}
}

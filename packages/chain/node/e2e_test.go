package node_test

import (
	"context"
	"crypto/ed25519"
	"slices"
	"testing"
	"time"

	cmttypes "github.com/cometbft/cometbft/types"

	"oepc.dev/oepcos/packages/chain/app"
	"oepc.dev/oepcos/packages/chain/chaintest"
	"oepc.dev/oepcos/packages/chain/node"
	"oepc.dev/oepcos/packages/chain/tx"
)

func signed(t *testing.T, chainID string, k ed25519.PrivateKey, nonce uint64, m tx.Msg) []byte {
	t.Helper()
	x := &tx.Tx{ChainID: chainID, Nonce: nonce, Fee: 10, Msg: m}
	if err := x.Sign(k); err != nil {
		t.Fatal(err)
	}
	raw, err := x.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestNetwork runs four real CometBFT nodes on loopback, three of them
// validators (MaxValidators 3 of 4 candidates): blocks are made, a transfer
// sent to one node is proven through another, a bad transaction is refused
// with its code, and a delegation elects the fourth at the epoch's end.
func TestNetwork(t *testing.T) {
	p := app.DefaultParams()
	p.EpochLength = 10
	p.MaxValidators = 3
	net := chaintest.Start(t, chaintest.Options{Nodes: 4, Params: p, Funded: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	start := time.Now()
	net.WaitHeight(ctx, 0, 3)
	net.WaitHeight(ctx, 3, 3)
	c0, c1, c2, c3 := net.Client(0), net.Client(1), net.Client(2), net.Client(3)
	st, err := c0.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("height %d after %v", st.SyncInfo.LatestBlockHeight, time.Since(start))

	// The validator set is the three of four with the smallest operator
	// addresses (equal stakes; ties go to the smaller address).
	h := int64(2)
	vr, err := c1.Validators(ctx, &h, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(vr.Validators) != 3 {
		t.Fatalf("%d validators at genesis, want 3", len(vr.Validators))
	}
	inSet := func(vals []ed25519.PublicKey, k ed25519.PublicKey) bool {
		return slices.ContainsFunc(vals, func(v ed25519.PublicKey) bool { return v.Equal(k) })
	}
	var genesisSet []ed25519.PublicKey
	for _, v := range vr.Validators {
		genesisSet = append(genesisSet, ed25519.PublicKey(v.PubKey.Bytes()))
	}
	out := -1
	for i, id := range net.IDs {
		if !inSet(genesisSet, id.ConsPubKey) {
			out = i
		}
	}
	if out < 0 {
		t.Fatal("every candidate is a validator")
	}

	alice, bob := net.Funded[0], chaintest.Key(7)
	bobAddr := tx.AddressOf(bob.Public().(ed25519.PublicKey))
	raw := signed(t, net.ChainID, alice, 0, tx.Transfer{To: bobAddr, Amount: 4242})
	res, err := c0.BroadcastTxCommit(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	if res.CheckTx.Code != 0 || res.TxResult.Code != 0 {
		t.Fatalf("transfer: check %d %q, exec %d %q", res.CheckTx.Code, res.CheckTx.Log, res.TxResult.Code, res.TxResult.Log)
	}
	// Its inclusion, proven through another node.
	txh := tx.Hash(raw)
	var inBlock int64
	for inBlock == 0 {
		inBlock, err = node.ProveTx(ctx, c2, net.ChainID, txh[:])
		if err != nil {
			if ctx.Err() != nil {
				t.Fatal(err)
			}
			inBlock = 0
			time.Sleep(100 * time.Millisecond)
		}
	}
	if inBlock != res.Height {
		t.Fatalf("tx proven in block %d, committed in %d", inBlock, res.Height)
	}
	// Bob's balance, proven through a third node against a signed app hash
	// (once that node has the block: before, it proves bob absent).
	net.WaitHeight(ctx, 3, res.Height)
	v, qh, err := node.QueryProven(ctx, c3, net.ChainID, app.PathAccount, bobAddr[:])
	if err != nil {
		t.Fatal(err)
	}
	acc, err := app.DecodeAccount(v)
	if err != nil || acc.Balance != 4242 {
		t.Fatalf("bob at %d: %+v %v", qh, acc, err)
	}
	if qh < res.Height {
		t.Fatalf("query at height %d, before the transfer's %d", qh, res.Height)
	}
	// An account that never existed: proven absent.
	nobody := tx.Address{0xEE}
	if v, _, err := node.QueryProven(ctx, c1, net.ChainID, app.PathAccount, nobody[:]); err != nil || v != nil {
		t.Fatalf("absent account: %x %v", v, err)
	}

	// Refused with their codes while the chain goes on.
	bad := signed(t, net.ChainID, alice, 1, tx.Transfer{To: bobAddr, Amount: 1})
	bad[len(bad)-1] ^= 1
	for _, c := range []struct {
		raw  []byte
		code uint32
	}{
		{bad, app.CodeBadSignature},
		{[]byte("not a transaction"), app.CodeMalformed},
		{signed(t, net.ChainID, alice, 0, tx.Transfer{To: bobAddr, Amount: 1}), app.CodeReplay},
		{signed(t, net.ChainID, bob, 0, tx.Transfer{To: tx.Address{1}, Amount: 1 << 40}), app.CodeInsufficientFunds},
		{signed(t, "other-chain", alice, 1, tx.Transfer{To: bobAddr, Amount: 1}), app.CodeWrongChain},
	} {
		r, err := c1.BroadcastTxSync(ctx, c.raw)
		if err != nil {
			t.Fatal(err)
		}
		if r.Code != c.code {
			t.Errorf("want code %d, got %d (%s)", c.code, r.Code, r.Log)
		}
	}

	// Delegate to the candidate outside the set: it has the most stake at
	// the next epoch's end, and enters the set two blocks later.
	outOp := net.IDs[out].OperatorAddress()
	res, err = c2.BroadcastTxCommit(ctx, signed(t, net.ChainID, net.Funded[1], 0, tx.Delegate{Candidate: outOp, Amount: 500 * app.BaseUnitsPerOEC}))
	if err != nil || res.TxResult.Code != 0 {
		t.Fatalf("delegate: %v %+v", err, res.TxResult)
	}
	epochEnd := (res.Height/10 + 1) * 10
	for i := range net.Nodes {
		net.WaitHeight(ctx, i, epochEnd+3)
	}
	h = epochEnd + 2
	vr, err = c0.Validators(ctx, &h, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var newSet []ed25519.PublicKey
	for _, v := range vr.Validators {
		newSet = append(newSet, ed25519.PublicKey(v.PubKey.Bytes()))
	}
	if len(newSet) != 3 || !inSet(newSet, net.IDs[out].ConsPubKey) {
		t.Fatalf("after epoch %d: the delegated candidate is not in the set", epochEnd)
	}
	h = epochEnd + 1
	if vr, err = c0.Validators(ctx, &h, nil, nil); err != nil || inSetV(vr.Validators, net.IDs[out].ConsPubKey) {
		t.Fatalf("the set changed before H+2: %v", err)
	}
	// The stored set, proven, says the same.
	v, _, err = node.QueryProven(ctx, c3, net.ChainID, app.PathValidators, nil)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := app.DecodeValidators(v)
	if err != nil || len(vs) != 3 || !slices.ContainsFunc(vs, func(v app.Validator) bool { return v.Operator == outOp }) {
		t.Fatalf("proven validator set: %+v %v", vs, err)
	}
	// And blocks go on with the new set.
	net.WaitHeight(ctx, 0, epochEnd+5)
	net.WaitHeight(ctx, 1, epochEnd+5)
	// The mean block interval, from the headers' times (timeout_commit 100 ms).
	first, last := int64(2), epochEnd+5
	b1, err1 := c1.Block(ctx, &first)
	b2, err2 := c1.Block(ctx, &last)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	t.Logf("network test done at height %d in %v; mean block interval %v", last, time.Since(start),
		b2.Block.Time.Sub(b1.Block.Time)/time.Duration(last-first))
}

func inSetV(vals []*cmttypes.Validator, k ed25519.PublicKey) bool {
	for _, v := range vals {
		if ed25519.PublicKey(v.PubKey.Bytes()).Equal(k) {
			return true
		}
	}
	return false
}

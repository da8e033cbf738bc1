package app

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
	cmtproto "github.com/cometbft/cometbft/proto/tendermint/types"
	idb "github.com/cosmos/iavl/db"

	"oepc.dev/oepcos/packages/chain/tx"
)

const chainID = "oe-unit"

func key(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, 32))
}

func addr(k ed25519.PrivateKey) tx.Address { return tx.AddressOf(k.Public().(ed25519.PublicKey)) }

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

// harness drives an App the way CometBFT does, block by block.
type harness struct {
	t      *testing.T
	a      *App
	db     idb.DB
	h      int64
	ops    []ed25519.PrivateKey // operators of the genesis candidates
	cons   []ed25519.PrivateKey // their validator keys
	alice  ed25519.PrivateKey   // funded
	nonces map[tx.Address]uint64
	// absent validators (by operator index) do not sign the next blocks.
	absent map[int]bool
	last   *abci.ResponseFinalizeBlock
	hash   []byte // app hash of the last committed height
	set    map[string]int64
}

func newHarness(t *testing.T, candidates int, p Params) *harness {
	t.Helper()
	hs := &harness{t: t, db: idb.NewMemDB(), nonces: map[tx.Address]uint64{}, absent: map[int]bool{}, alice: key(200), set: map[string]int64{}}
	a, err := New(Config{DB: hs.db})
	if err != nil {
		t.Fatal(err)
	}
	hs.a = a
	g := Genesis{Params: p, Accounts: []GenesisAccount{{Address: addr(hs.alice).String(), Balance: 1_000_000 * BaseUnitsPerOEC}}}
	for i := range candidates {
		op, cons := key(byte(1+i)), key(byte(50+i))
		hs.ops, hs.cons = append(hs.ops, op), append(hs.cons, cons)
		g.Candidates = append(g.Candidates, GenesisCandidate{Operator: addr(op).String(), ConsPubKey: hex.EncodeToString(pub(cons)),
			Moniker: "c", SelfStake: uint64(100+i) * BaseUnitsPerOEC})
		g.Accounts = append(g.Accounts, GenesisAccount{Address: addr(op).String(), Balance: BaseUnitsPerOEC})
	}
	raw, _ := json.Marshal(g)
	res, err := a.InitChain(context.Background(), &abci.RequestInitChain{ChainId: chainID, AppStateBytes: raw, InitialHeight: 1})
	if err != nil {
		t.Fatal(err)
	}
	hs.apply(res.Validators)
	return hs
}

func (hs *harness) apply(ups []abci.ValidatorUpdate) {
	for _, u := range ups {
		k := string(u.PubKey.GetEd25519())
		if u.Power == 0 {
			delete(hs.set, k)
		} else {
			hs.set[k] = u.Power
		}
	}
}

// tx signs m with k at k's next nonce.
func (hs *harness) tx(k ed25519.PrivateKey, m tx.Msg) []byte {
	hs.t.Helper()
	n := hs.nonces[addr(k)]
	hs.nonces[addr(k)] = n + 1
	return signTx(hs.t, chainID, k, n, 10, m)
}

func signTx(t *testing.T, chain string, k ed25519.PrivateKey, nonce, fee uint64, m tx.Msg) []byte {
	t.Helper()
	x := &tx.Tx{ChainID: chain, Nonce: nonce, Fee: fee, Msg: m}
	if err := x.Sign(k); err != nil {
		t.Fatal(err)
	}
	raw, err := x.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// block finalizes and commits the next block, with every validator of the
// current set voting (but the absent), and returns its tx results.
func (hs *harness) block(mis []abci.Misbehavior, txs ...[]byte) []*abci.ExecTxResult {
	hs.t.Helper()
	hs.h++
	var votes []abci.VoteInfo
	var proposer []byte
	if hs.h > 1 {
		// Sorted for determinism, as CometBFT's are.
		for i, c := range hs.cons {
			p, ok := hs.set[string(pub(c))]
			if !ok {
				continue
			}
			flag := cmtproto.BlockIDFlagCommit
			if hs.absent[i] {
				flag = cmtproto.BlockIDFlagAbsent
			}
			a := tx.AddressOf(pub(c))
			votes = append(votes, abci.VoteInfo{Validator: abci.Validator{Address: a[:], Power: p}, BlockIdFlag: flag})
			if proposer == nil && !hs.absent[i] {
				proposer = a[:]
			}
		}
	}
	res, err := hs.a.FinalizeBlock(context.Background(), &abci.RequestFinalizeBlock{
		Height: hs.h, Time: time.Unix(1700000000+hs.h, 0), Txs: txs, Misbehavior: mis,
		DecidedLastCommit: abci.CommitInfo{Votes: votes}, ProposerAddress: proposer,
	})
	if err != nil {
		hs.t.Fatal(err)
	}
	if _, err := hs.a.Commit(context.Background(), &abci.RequestCommit{}); err != nil {
		hs.t.Fatal(err)
	}
	// CometBFT applies updates from height h at h+2; this harness applies
	// them at h+1, which is all the app sees (it reads DecidedLastCommit).
	hs.apply(res.ValidatorUpdates)
	hs.last, hs.hash = res, res.AppHash
	if !bytes.Equal(res.AppHash, hs.a.tree.Hash()) {
		hs.t.Fatal("FinalizeBlock's app hash is not the committed tree's root")
	}
	hs.checkSupply()
	return res.TxResults
}

// checkSupply is the coin invariant: balances + delegations + unbondings = supply.
func (hs *harness) checkSupply() {
	hs.t.Helper()
	s := hs.a.st()
	var sum uint64
	s.each(prefixAccount, func(_, v []byte) { a, _ := DecodeAccount(v); sum += a.Balance })
	for _, p := range []string{prefixDelegation, prefixUnbonding} {
		s.each(p, func(_, v []byte) { n, _ := DecodeUint64(v); sum += n })
	}
	if sup := s.uint([]byte(keySupply)); sup != sum {
		hs.t.Fatalf("height %d: supply %d, but accounts, stakes and unbondings hold %d", hs.h, sup, sum)
	}
}

func (hs *harness) balance(a tx.Address) uint64 { return hs.a.st().account(a).Balance }

func (hs *harness) candidate(i int) Candidate {
	c, ok := hs.a.st().candidate(addr(hs.ops[i]))
	if !ok {
		hs.t.Fatalf("no candidate %d", i)
	}
	return c
}

func (hs *harness) checkTx(raw []byte) *abci.ResponseCheckTx {
	r, err := hs.a.CheckTx(context.Background(), &abci.RequestCheckTx{Tx: raw})
	if err != nil {
		hs.t.Fatal(err)
	}
	return r
}

func testParams() Params {
	p := DefaultParams()
	p.EpochLength = 5
	p.MaxValidators = 3
	p.UnbondingBlocks = 7
	p.DowntimeWindow = 10
	p.MaxMissed = 4
	p.JailBlocks = 6
	return p
}

func TestCheckTxCodes(t *testing.T) {
	hs := newHarness(t, 3, testParams())
	hs.block(nil)
	bob := key(201)
	alice := hs.alice
	okTx := signTx(t, chainID, alice, 0, 10, tx.Transfer{To: addr(bob), Amount: 5})
	bad := bytes.Clone(okTx)
	bad[len(bad)-3] ^= 1
	cases := []struct {
		name string
		raw  []byte
		code uint32
	}{
		{"malformed", []byte{1, 2, 3}, CodeMalformed},
		{"wrong chain", signTx(t, "other", alice, 0, 10, tx.Transfer{To: addr(bob), Amount: 5}), CodeWrongChain},
		{"bad signature", bad, CodeBadSignature},
		{"future nonce", signTx(t, chainID, alice, 3, 10, tx.Transfer{To: addr(bob), Amount: 5}), CodeFutureNonce},
		{"fee too low", signTx(t, chainID, alice, 0, 0, tx.Transfer{To: addr(bob), Amount: 5}), CodeFeeTooLow},
		{"insufficient", signTx(t, chainID, bob, 0, 10, tx.Transfer{To: addr(alice), Amount: 5}), CodeInsufficientFunds},
		{"amount beyond balance", signTx(t, chainID, alice, 0, 10, tx.Transfer{To: addr(bob), Amount: 2_000_000 * BaseUnitsPerOEC}), CodeInsufficientFunds},
		{"fee+amount overflow", signTx(t, chainID, alice, 0, ^uint64(0), tx.Transfer{To: addr(bob), Amount: 5}), CodeInsufficientFunds},
		{"zero amount", signTx(t, chainID, alice, 0, 10, tx.Transfer{To: addr(bob), Amount: 0}), CodeInvalidMsg},
		{"ok", okTx, CodeOK},
		{"replay in mempool", okTx, CodeReplay},
		{"next nonce", signTx(t, chainID, alice, 1, 10, tx.Transfer{To: addr(bob), Amount: 5}), CodeOK},
	}
	for _, c := range cases {
		if r := hs.checkTx(c.raw); r.Code != c.code {
			t.Errorf("%s: code %d (%s), want %d", c.name, r.Code, r.Log, c.code)
		} else if c.code != CodeOK && (r.Log == "" || r.Codespace != Codespace) {
			t.Errorf("%s: no log or codespace", c.name)
		}
	}
	// After the block that includes it, the committed nonce refuses it.
	res := hs.block(nil, okTx)
	if res[0].Code != CodeOK {
		t.Fatalf("deliver: %d %s", res[0].Code, res[0].Log)
	}
	if r := hs.checkTx(okTx); r.Code != CodeReplay {
		t.Fatalf("replay after commit: code %d", r.Code)
	}
}

func TestTransferAndReplayInBlock(t *testing.T) {
	hs := newHarness(t, 3, testParams())
	bob := addr(key(201))
	before := hs.balance(addr(hs.alice))
	raw := hs.tx(hs.alice, tx.Transfer{To: bob, Amount: 1234})
	res := hs.block(nil, raw, raw, []byte("junk"))
	if res[0].Code != CodeOK || res[1].Code != CodeReplay || res[2].Code != CodeMalformed {
		t.Fatalf("codes %d %d %d", res[0].Code, res[1].Code, res[2].Code)
	}
	if got := hs.balance(bob); got != 1234 {
		t.Fatalf("bob has %d", got)
	}
	if got := hs.balance(addr(hs.alice)); got != before-1234-10 {
		t.Fatalf("alice has %d, want %d", got, before-1234-10)
	}
	// A failing message still pays its fee and uses its nonce.
	res = hs.block(nil, hs.tx(hs.alice, tx.Undelegate{Candidate: addr(hs.ops[0]), Amount: 1}))
	if res[0].Code != CodeNoDelegation {
		t.Fatalf("undelegate without delegation: %d", res[0].Code)
	}
	if got := hs.a.st().account(addr(hs.alice)); got.Nonce != 2 || got.Balance != before-1234-20 {
		t.Fatalf("after failed message: %+v", got)
	}
}

func TestEpochElection(t *testing.T) {
	p := testParams()
	p.MaxValidators = 2
	hs := newHarness(t, 3, p)
	// Stakes 100, 101, 102: candidates 1 and 2 are elected.
	if len(hs.set) != 2 || hs.set[string(pub(hs.cons[0]))] != 0 {
		t.Fatalf("genesis set %v", hs.set)
	}
	hs.block(nil, hs.tx(hs.alice, tx.Delegate{Candidate: addr(hs.ops[0]), Amount: 50 * BaseUnitsPerOEC}))
	for hs.h < 4 {
		hs.block(nil)
		if len(hs.last.ValidatorUpdates) != 0 {
			t.Fatalf("updates at %d, before the epoch's end", hs.h)
		}
	}
	hs.block(nil) // height 5: the epoch's last block
	ups := hs.last.ValidatorUpdates
	want := map[string]int64{string(pub(hs.cons[0])): 150, string(pub(hs.cons[1])): 0}
	if len(ups) != 2 {
		t.Fatalf("updates %v", ups)
	}
	for _, u := range ups {
		if w, ok := want[string(u.PubKey.GetEd25519())]; !ok || w != u.Power {
			t.Fatalf("update %x → %d; want %v", u.PubKey.GetEd25519(), u.Power, want)
		}
	}
	vs := hs.a.st().validators()
	if len(vs) != 2 || Epoch(5, 5) != 0 || Epoch(6, 5) != 1 {
		t.Fatalf("stored set %v", vs)
	}
}

func TestUnbonding(t *testing.T) {
	p := testParams()
	p.CommissionBP = 10000 // the delegator earns nothing: its balance shows only the unbonding
	hs := newHarness(t, 3, p)
	op := addr(hs.ops[2])
	hs.block(nil, hs.tx(hs.alice, tx.Delegate{Candidate: op, Amount: 1000}))
	bal := hs.balance(addr(hs.alice))
	hs.block(nil, hs.tx(hs.alice, tx.Undelegate{Candidate: op, Amount: 600}))
	start := hs.h
	if got := hs.a.st().uint(DelegationKey(op, addr(hs.alice))); got != 400 {
		t.Fatalf("delegation %d after undelegating", got)
	}
	if c := hs.candidate(2); c.Stake != 102*BaseUnitsPerOEC+400 {
		t.Fatalf("candidate stake %d", c.Stake)
	}
	for hs.h < start+int64(p.UnbondingBlocks)-1 {
		hs.block(nil)
		if got := hs.balance(addr(hs.alice)); got != bal-10 {
			t.Fatalf("coins back at %d, before the delay", hs.h)
		}
	}
	hs.block(nil)
	if got := hs.balance(addr(hs.alice)); got != bal-10+600 {
		t.Fatalf("after the delay: %d, want %d", got, bal-10+600)
	}
}

func TestDoubleSignSlashing(t *testing.T) {
	p := testParams()
	hs := newHarness(t, 3, p)
	hs.block(nil, hs.tx(hs.alice, tx.Delegate{Candidate: addr(hs.ops[1]), Amount: 10_000}))
	hs.block(nil, hs.tx(hs.alice, tx.Undelegate{Candidate: addr(hs.ops[1]), Amount: 10_000}))
	supply := hs.a.st().uint([]byte(keySupply))
	before := hs.candidate(1).Stake
	cons := tx.AddressOf(pub(hs.cons[1]))
	ev := abci.Misbehavior{Type: abci.MisbehaviorType_DUPLICATE_VOTE, Validator: abci.Validator{Address: cons[:], Power: 101}, Height: hs.h}
	hs.block([]abci.Misbehavior{ev, ev}) // the same evidence twice is punished once
	c := hs.candidate(1)
	if !c.Jailed || !c.Tombstoned {
		t.Fatalf("not jailed: %+v", c)
	}
	if want := before - before*500/10000; c.Stake != want {
		t.Fatalf("stake %d after slash, want %d", c.Stake, want)
	}
	burnt := before*500/10000 + 10_000*500/10000 // the unbonding is slashed too
	gotSupply := hs.a.st().uint([]byte(keySupply))
	// Rewards were minted in the same block; take them out.
	r, _ := BlockReward(p.RewardR0, p.RewardN0, 3)
	if gotSupply != supply-burnt+3*r {
		t.Fatalf("supply %d, want %d", gotSupply, supply-burnt+3*r)
	}
	if len(hs.last.ValidatorUpdates) != 1 || hs.last.ValidatorUpdates[0].Power != 0 {
		t.Fatalf("jailed validator not removed at once: %v", hs.last.ValidatorUpdates)
	}
	res := hs.block(nil, hs.tx(hs.ops[1], tx.Unjail{}))
	if res[0].Code != CodeStillJailed {
		t.Fatalf("tombstoned unjail: %d", res[0].Code)
	}
	for hs.h%int64(p.EpochLength) != 0 {
		hs.block(nil)
	}
	if _, ok := hs.set[string(pub(hs.cons[1]))]; ok {
		t.Fatal("tombstoned candidate re-elected")
	}
}

func TestDowntimeSlashing(t *testing.T) {
	p := testParams()
	hs := newHarness(t, 3, p)
	hs.block(nil)
	hs.absent[0] = true
	before := hs.candidate(0).Stake
	jailedAt := int64(0)
	for range p.MaxMissed + 1 {
		hs.block(nil)
		if hs.candidate(0).Jailed && jailedAt == 0 {
			jailedAt = hs.h
		}
	}
	c := hs.candidate(0)
	if !c.Jailed || c.Tombstoned || jailedAt == 0 {
		t.Fatalf("after %d missed blocks: %+v", p.MaxMissed+1, c)
	}
	if want := before - before*p.DowntimeSlashBP/10000; c.Stake != want {
		t.Fatalf("stake %d, want %d", c.Stake, want)
	}
	if _, in := hs.set[string(pub(hs.cons[0]))]; in {
		t.Fatal("jailed validator still in the set")
	}
	hs.absent[0] = false
	res := hs.block(nil, hs.tx(hs.ops[0], tx.Unjail{}))
	if res[0].Code != CodeStillJailed {
		t.Fatalf("early unjail: code %d", res[0].Code)
	}
	for hs.h < int64(c.JailedUntil) {
		hs.block(nil)
	}
	res = hs.block(nil, hs.tx(hs.ops[0], tx.Unjail{}))
	if res[0].Code != CodeOK {
		t.Fatalf("unjail: %d %s", res[0].Code, res[0].Log)
	}
	for hs.h%int64(p.EpochLength) != 0 {
		hs.block(nil)
	}
	if _, in := hs.set[string(pub(hs.cons[0]))]; !in {
		t.Fatal("unjailed candidate not re-elected at the epoch's end")
	}
	// A validator that misses a few, under the limit, is not punished.
	hs.absent[1] = true
	for range p.MaxMissed {
		hs.block(nil)
	}
	if hs.candidate(1).Jailed {
		t.Fatal("jailed at the limit, not over it")
	}
}

func TestRewardsPaid(t *testing.T) {
	p := testParams()
	hs := newHarness(t, 3, p)
	hs.block(nil)
	op0, op1 := addr(hs.ops[0]), addr(hs.ops[1])
	b0, b1 := hs.balance(op0), hs.balance(op1)
	hs.absent[1] = true
	hs.block(nil, hs.tx(hs.alice, tx.Transfer{To: addr(key(9)), Amount: 1}))
	r, _ := BlockReward(p.RewardR0, p.RewardN0, 3)
	// Op 0 signed and proposed (fees 10); op 1 did not sign.
	if got := hs.balance(op0); got != b0+r+10 {
		t.Fatalf("signer and proposer got %d, want %d", got-b0, r+10)
	}
	if got := hs.balance(op1); got != b1 {
		t.Fatalf("absent validator rewarded %d", got-b1)
	}
}

func TestBlockReward(t *testing.T) {
	const r0, n0 = 10_000_000, 4
	for _, c := range []struct{ n, want uint64 }{
		{1, 20_000_000}, // R0·√4
		{n0, r0},        // R(n0) = R0
		{16, 5_000_000}, // R0·2/4
		{9, 6_666_666},  // R0·2/3, rounded down
		{3, 11_547_005}, // R0·2/√3 = 11547005.38...
		{1 << 40, 19},   // R0·2/2^20 = 19.07
		{^uint64(0), 0}, // more nodes than units to share
	} {
		got, err := BlockReward(r0, n0, c.n)
		if err != nil || got != c.want {
			t.Errorf("R(%d) = %d %v, want %d", c.n, got, err, c.want)
		}
	}
	// Monotone: more super nodes, never more per node.
	prev := ^uint64(0)
	for n := uint64(1); n < 200; n++ {
		r, _ := BlockReward(r0, n0, n)
		if r > prev {
			t.Fatalf("R(%d) = %d > R(%d) = %d", n, r, n-1, prev)
		}
		prev = r
	}
	// Edges: overflow and zero.
	if _, err := BlockReward(^uint64(0), 4, 1); err != ErrRewardOverflow {
		t.Errorf("R0=max, n0=4, n=1: %v, want overflow", err)
	}
	if r, err := BlockReward(^uint64(0), 4, 4); err != nil || r != ^uint64(0) {
		t.Errorf("R0=max at n0: %d %v", r, err)
	}
	if r, err := BlockReward(^uint64(0), ^uint64(0), ^uint64(0)); err != nil || r != ^uint64(0) {
		t.Errorf("all max: %d %v", r, err)
	}
	if _, err := BlockReward(1, 0, 1); err == nil {
		t.Error("n0 = 0 accepted")
	}
	if _, err := BlockReward(1, 1, 0); err == nil {
		t.Error("n = 0 accepted")
	}
	if err := (Params{EpochLength: 1, MaxValidators: 1, PowerUnit: 32, RewardR0: ^uint64(0), RewardN0: 4, DowntimeWindow: 2}).Validate(); err == nil {
		t.Error("params whose R(1) overflows accepted")
	}
	// Floor property on a spread of values: r²·n ≤ R0²·n0 < (r+1)²·n.
	for _, r0 := range []uint64{1, 7, 1e6, 123456789, 1 << 32} {
		for _, n0 := range []uint64{1, 3, 21, 100} {
			for _, n := range []uint64{1, 2, 5, 21, 22, 1000, 1 << 33} {
				r, err := BlockReward(r0, n0, n)
				if err != nil {
					continue
				}
				if !floorSqrtOK(r0, n0, n, r) {
					t.Errorf("R0=%d n0=%d n=%d: %d is not the floor", r0, n0, n, r)
				}
			}
		}
	}
}

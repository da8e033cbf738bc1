package app

import (
	"math/rand/v2"
	"testing"

	"oepc.dev/oepcos/packages/chain/tx"
)

func sum(xs []uint64) uint64 {
	var s uint64
	for _, x := range xs {
		s += x
	}
	return s
}

func TestSplitReward(t *testing.T) {
	const max = ^uint64(0)
	for _, c := range []struct {
		name   string
		r, bp  uint64
		dels   []uint64
		op     uint64
		shares []uint64
	}{
		{"no reward", 0, 1000, []uint64{5, 7}, 0, []uint64{0, 0}},
		{"no delegations", 100, 1000, nil, 100, []uint64{}},
		{"no stake", 100, 1000, []uint64{0, 0}, 100, []uint64{0, 0}},
		{"one delegator, no commission", 100, 0, []uint64{42}, 0, []uint64{100}},
		{"all commission", 100, 10000, []uint64{1, 2}, 100, []uint64{0, 0}},
		{"commission over 100% is 100%", 100, 20000, []uint64{1, 2}, 100, []uint64{0, 0}},
		{"10%, pro rata", 1000, 1000, []uint64{1, 2}, 100, []uint64{300, 600}},
		{"dust to the operator", 100, 0, []uint64{1, 1, 1}, 1, []uint64{33, 33, 33}},
		{"commission floors", 9, 1000, []uint64{1}, 0, []uint64{9}},
		{"a unit among many", 1, 0, []uint64{1, 1, 1, 1}, 1, []uint64{0, 0, 0, 0}},
		{"tiny delegation beside a huge one", 1_000_000, 0, []uint64{1, max - 1}, 1, []uint64{0, 999_999}},
		{"amounts at 64 bits", max, 0, []uint64{max / 2, max / 2}, 1, []uint64{max / 2, max / 2}},
		{"the whole supply in one", max, 5000, []uint64{max}, max / 2, []uint64{max - max/2}},
		{"stakes overflowing 64 bits", 100, 0, []uint64{max, 1}, 100, []uint64{0, 0}},
	} {
		op, shares := SplitReward(c.r, c.bp, c.dels)
		if op != c.op || len(shares) != len(c.shares) {
			t.Errorf("%s: operator %d shares %v, want %d %v", c.name, op, shares, c.op, c.shares)
			continue
		}
		for i := range shares {
			if shares[i] != c.shares[i] {
				t.Errorf("%s: shares %v, want %v", c.name, shares, c.shares)
				break
			}
		}
		if op+sum(shares) != c.r {
			t.Errorf("%s: %d + %d != %d: dust lost", c.name, op, sum(shares), c.r)
		}
	}
	// Random: nothing lost, each share the floor of its pro rata part, the
	// operator's dust under the number of delegations.
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		n := 1 + rng.IntN(30)
		dels := make([]uint64, n)
		for i := range dels {
			dels[i] = rng.Uint64N(1 << uint(1+rng.IntN(58)))
		}
		r := rng.Uint64N(1 << uint(1+rng.IntN(62)))
		bp := rng.Uint64N(10001)
		op, shares := SplitReward(r, bp, dels)
		if op+sum(shares) != r {
			t.Fatalf("r %d bp %d dels %v: %d + %v loses dust", r, bp, dels, op, shares)
		}
		commission := mulBP(r, bp)
		if st := sum(dels); st > 0 {
			if dust := op - commission; dust >= uint64(n) {
				t.Fatalf("r %d bp %d dels %v: dust %d for %d delegations", r, bp, dels, dust, n)
			}
			for i, d := range dels {
				// share·stake ≤ rest·d < (share+1)·stake, checked with floats' help only for sizes that fit exactly.
				if rest := r - commission; rest < 1<<26 && d < 1<<26 && st < 1<<52 {
					if shares[i]*st > rest*d || (shares[i]+1)*st <= rest*d {
						t.Fatalf("share %d of delegation %d in %d (rest %d) is not the floor", shares[i], d, st, rest)
					}
				}
			}
		}
	}
}

// A delegator earns its part of the validator's reward pro rata to stake,
// the operator its commission, its own part and the dust; the coin
// invariant (the harness checks it every block) holds.
func TestDelegatorRewards(t *testing.T) {
	p := testParams()
	hs := newHarness(t, 3, p)
	op := addr(hs.ops[2])
	bob := key(42)
	bobAddr := addr(bob)
	hs.block(nil, hs.tx(hs.alice, tx.Transfer{To: bobAddr, Amount: 1000 * BaseUnitsPerOEC}))
	hs.block(nil, hs.tx(bob, tx.Delegate{Candidate: op, Amount: 300 * BaseUnitsPerOEC}))
	// Only candidate 2 signs from now on: the others' rewards do not mix in.
	hs.absent[0], hs.absent[1] = true, true
	hs.block(nil) // the delegation's block is signed in this one's last commit
	b0, o0 := hs.balance(bobAddr), hs.balance(op)
	stakeOp := hs.a.st().uint(DelegationKey(op, op))
	stakeBob := hs.a.st().uint(DelegationKey(op, bobAddr))
	hs.block(nil)
	r, _ := BlockReward(p.RewardR0, p.RewardN0, 3)
	// (Each share depends on its own stake and the total only: the order
	// of the delegations does not matter.)
	opPart, shares := SplitReward(r, p.CommissionBP, []uint64{stakeOp, stakeBob})
	gotBob, gotOp := hs.balance(bobAddr)-b0, hs.balance(op)-o0
	// The proposer (candidate 2, the only signer) also takes the fees: none here.
	if gotBob != shares[1] || gotOp != opPart+shares[0] {
		t.Fatalf("bob earned %d (want %d), operator %d (want %d)", gotBob, shares[1], gotOp, opPart+shares[0])
	}
	if gotBob == 0 || gotBob+gotOp != r {
		t.Fatalf("reward %d split as %d + %d", r, gotBob, gotOp)
	}
	// Pro rata after a 10 % commission.
	if want := (r - r/10) * (stakeBob / BaseUnitsPerOEC) / ((stakeOp + stakeBob) / BaseUnitsPerOEC); gotBob != want {
		t.Fatalf("bob earned %d of %d, want %d (stakes %d and %d)", gotBob, r, want, stakeBob, stakeOp)
	}
}

// The downtime window slides: misses are counted over the last
// DowntimeWindow blocks, wherever they fall, so misses straddling what
// was a window boundary are counted together, and misses older than the
// window are forgotten.
func TestDowntimeWindowSlides(t *testing.T) {
	p := testParams() // window 10, jailed above 4 missed
	for _, signedFirst := range []int{0, 1, 5, 7, 9, 13} {
		hs := newHarness(t, 3, p)
		hs.block(nil)
		for range signedFirst {
			hs.block(nil)
		}
		hs.absent[0] = true
		for i := range p.MaxMissed + 1 {
			if hs.candidate(0).Jailed {
				t.Fatalf("after %d signed blocks: jailed after only %d misses", signedFirst, i)
			}
			hs.block(nil)
		}
		if !hs.candidate(0).Jailed {
			t.Fatalf("after %d signed blocks: %d consecutive misses not jailed", signedFirst, p.MaxMissed+1)
		}
	}
	// MaxMissed misses, then a whole window's worth of signed blocks less
	// them, then MaxMissed more: never more than MaxMissed in any window.
	hs := newHarness(t, 3, p)
	hs.block(nil)
	miss := func(n uint64, absent bool) {
		hs.absent[0] = absent
		for range n {
			hs.block(nil)
		}
	}
	miss(p.MaxMissed, true)
	miss(p.DowntimeWindow-p.MaxMissed, false)
	miss(p.MaxMissed, true)
	if hs.candidate(0).Jailed {
		t.Fatal("jailed with the old misses slid out of the window")
	}
	// One more miss: the window's oldest block is a signed one; now over.
	miss(1, true)
	if !hs.candidate(0).Jailed {
		t.Fatalf("%d misses in the last %d blocks, not jailed", p.MaxMissed+1, p.DowntimeWindow)
	}
}

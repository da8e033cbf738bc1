package node_test

import (
	"context"
	"testing"
	"time"

	"oepc.dev/oepcos/packages/chain/app"
	"oepc.dev/oepcos/packages/chain/chaintest"
	"oepc.dev/oepcos/packages/chain/node"
)

// TestDoubleSigning runs validator 0's key on two nodes at once, in a
// real 4-validator network: CometBFT sees the conflicting votes, its
// evidence reaches the app, and the candidate is slashed 5 % and jailed
// for good (read through a proven query), while the other three go on
// making blocks.
func TestDoubleSigning(t *testing.T) {
	p := app.DefaultParams()
	p.MaxValidators = 4
	net := chaintest.Start(t, chaintest.Options{Nodes: 4, Params: p})
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	net.WaitHeight(ctx, 1, 2)
	op := net.IDs[0].OperatorAddress()
	net.StartTwin(0)
	c := net.Client(1)
	var cand app.Candidate
	for {
		v, h, err := node.QueryProven(ctx, c, net.ChainID, app.PathCandidate, op[:])
		if err != nil {
			t.Fatal(err)
		}
		if cand, err = app.DecodeCandidate(v); err != nil {
			t.Fatal(err)
		}
		if cand.Tombstoned {
			t.Logf("double signer tombstoned at height %d: stake %d", h, cand.Stake)
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the double signer was not punished by height %d: %+v", h, cand)
		case <-time.After(200 * time.Millisecond):
		}
	}
	if !cand.Jailed || cand.Stake != 1000*app.BaseUnitsPerOEC-mulBP(1000*app.BaseUnitsPerOEC, p.DoubleSignSlashBP) {
		t.Fatalf("double signer: %+v, want jailed with 5 %% burnt", cand)
	}
	// The three honest validators hold 3000 of 4000 power: blocks go on.
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	net.WaitHeight(ctx, 2, st.SyncInfo.LatestBlockHeight+5)
}

func mulBP(v, bp uint64) uint64 { return v * bp / 10000 }

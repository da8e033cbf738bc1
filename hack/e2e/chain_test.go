package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	rpchttp "github.com/cometbft/cometbft/rpc/client/http"

	"oepc.dev/oepcos/hack/devnet/devnet"
	"oepc.dev/oepcos/packages/apitype"
	"oepc.dev/oepcos/packages/chain/app"
	chainnode "oepc.dev/oepcos/packages/chain/node"
)

func chainClient(t *testing.T, sn devnet.SuperNode) *rpchttp.HTTP {
	t.Helper()
	c, err := rpchttp.New(sn.ChainRPC, "/websocket")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// height is a validator's latest committed height (-1 when it does not
// answer).
func height(c *rpchttp.HTTP) int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	st, err := c.Status(ctx)
	if err != nil {
		return -1
	}
	return st.SyncInfo.LatestBlockHeight
}

// provenCandidate reads a candidate through validator c, its proof checked
// against the signed app hash.
func provenCandidate(t *testing.T, c *rpchttp.HTTP, op []byte) (app.Candidate, int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	v, h, err := chainnode.QueryProven(ctx, c, devnet.ChainID, app.PathCandidate, op)
	if err != nil {
		t.Fatalf("proven candidate query: %v", err)
	}
	cand, err := app.DecodeCandidate(v)
	if err != nil {
		t.Fatalf("candidate: %v", err)
	}
	return cand, h
}

// stopForGood takes a super node down: the devnet restarts it no more.
func stopForGood(t *testing.T, sn devnet.SuperNode) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(sn.DataDir, "disabled"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(sn.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
}

// TestChainDevnet runs the default devnet's chain (4 super nodes, each a
// validator in its own process) with two boxes on their light nodes: the
// faucet funds a box's wallet once it has one, and every box's light node
// verifies the chain. Then the faults: a validator killed with SIGKILL and
// restarted catches up; with one of 4 down the chain goes on, and the one
// down long enough is jailed for downtime (read through a proven query);
// with two down it stops, and the boxes' light nodes say why.
func TestChainDevnet(t *testing.T) {
	if testing.Short() {
		t.Skip("devnet test")
	}
	dir := t.TempDir()
	n := StartDevnet(t, dir, "--boxes", "2")
	st := n.State()
	if len(st.SuperNodes) != 4 {
		t.Fatalf("%d super nodes, want 4 by default", len(st.SuperNodes))
	}
	box1, box2 := st.Boxes[0], st.Boxes[1]
	rpc := make([]*rpchttp.HTTP, 4)
	for i, sn := range st.SuperNodes {
		rpc[i] = chainClient(t, sn)
	}

	// Light nodes from the start, on every box.
	for _, b := range st.Boxes {
		WaitFor(t, b.Name+"'s light node to verify a header", 90*time.Second, func() bool {
			var cs apitype.ChainStatus
			out, _, err := Oepc(b.API, b.Token, "chain", "status", "--json")
			return err == nil && jsonOK(out, &cs) && cs.VerifiedHeight > 0 && len(cs.Witnesses) == 3 && cs.ChainID == devnet.ChainID
		})
	}
	// The faucet pays a wallet once it exists.
	if _, errs, err := Oepc(box1.API, box1.Token, "cloud", "setup"); err != nil {
		t.Fatalf("cloud setup: %v %s", err, errs)
	}
	WaitFor(t, "the faucet to fund box1's wallet", 90*time.Second, func() bool {
		var w apitype.WalletAnswer
		out, _, err := Oepc(box1.API, box1.Token, "wallet", "balance", "--json")
		return err == nil && jsonOK(out, &w) && w.Exists && w.Balance == devnet.FaucetGrant
	})

	t.Run("SIGKILL and restart catches up", func(t *testing.T) {
		victim := st.SuperNodes[3]
		before := height(rpc[0])
		if err := syscall.Kill(victim.PID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		// The devnet restarts it (as gokrazy would); it replays and syncs.
		WaitFor(t, "super4 to come back and pass the height it was killed at", 120*time.Second, func() bool {
			return height(rpc[3]) > before+3
		})
		WaitFor(t, "super4 to catch up with super1", 60*time.Second, func() bool {
			h3, h0 := height(rpc[3]), height(rpc[0])
			return h3 > 0 && h3 >= h0-1
		})
		if s := n.State(); s.SuperNodes[3].PID == victim.PID {
			t.Errorf("devnet.json still lists the killed process %d", victim.PID)
		}
	})

	st = n.State() // the restarted super node's PID
	op4 := superOperator(t, st.SuperNodes[3])
	t.Run("one of four down: blocks go on, and it is jailed", func(t *testing.T) {
		stopForGood(t, st.SuperNodes[3])
		h0 := height(rpc[0])
		WaitFor(t, "10 blocks with super4 down", 60*time.Second, func() bool { return height(rpc[0]) >= h0+10 })
		// Downtime: more than MaxMissed of a window's blocks missed.
		var cand app.Candidate
		var at int64
		WaitFor(t, "super4 to be jailed for downtime", 180*time.Second, func() bool {
			cand, at = provenCandidate(t, rpc[1], op4)
			return cand.Jailed
		})
		if cand.Tombstoned || cand.JailedUntil <= uint64(at) || cand.Stake >= 1000*app.BaseUnitsPerOEC {
			t.Errorf("jailed for downtime: want slashed, not tombstoned, jailed until later: %+v at %d", cand, at)
		}
		t.Logf("super4 jailed at height %d: stake %d, until %d", at, cand.Stake, cand.JailedUntil)
		// The wallet still answers, proven.
		var w apitype.WalletAnswer
		OepcJSON(t, box1, &w, "wallet", "balance", "--json")
		if w.Balance != devnet.FaucetGrant {
			t.Errorf("balance with super4 down: %+v", w)
		}
	})

	t.Run("two of four down: the chain stops and the light node says why", func(t *testing.T) {
		stopForGood(t, st.SuperNodes[2])
		var halted int64
		WaitFor(t, "the chain to stop", 60*time.Second, func() bool {
			h := height(rpc[0])
			time.Sleep(5 * time.Second)
			halted = h
			return h > 0 && height(rpc[0]) == h && height(rpc[1]) <= h
		})
		for _, b := range []devnet.Box{box1, box2} {
			var cs apitype.ChainStatus
			var last string
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("%s's last chain status: %s", b.Name, last)
				}
			})
			WaitFor(t, b.Name+" to say the chain stopped", 90*time.Second, func() bool {
				out, stderr, err := Oepc(b.API, b.Token, "chain", "status", "--json")
				last = fmt.Sprintf("%v %s %s", err, out, stderr)
				return err == nil && jsonOK(out, &cs) && strings.Contains(cs.Stalled, "not making blocks")
			})
			if cs.VerifiedHeight > halted {
				t.Errorf("%s verified height %d past the halt at %d", b.Name, cs.VerifiedHeight, halted)
			}
			out, _, err := Oepc(b.API, b.Token, "chain", "status")
			if err != nil || !strings.Contains(out, "fewer than 2/3 of the voting power") {
				t.Errorf("oepc chain status on %s: %v\n%s", b.Name, err, out)
			}
			t.Logf("%s: %s", b.Name, cs.Stalled)
		}
	})
}

func superOperator(t *testing.T, sn devnet.SuperNode) []byte {
	t.Helper()
	id, err := chainnode.InitHome(filepath.Join(sn.DataDir, "chain"))
	if err != nil {
		t.Fatal(err)
	}
	a := id.OperatorAddress()
	return a[:]
}

func jsonOK(s string, v any) bool { return json.Unmarshal([]byte(s), v) == nil }

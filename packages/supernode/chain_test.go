package supernode_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"oepc.dev/oepcos/packages/chain/app"
	"oepc.dev/oepcos/packages/chain/chaintest"
	chainnode "oepc.dev/oepcos/packages/chain/node"
	"oepc.dev/oepcos/packages/supernode"
)

// A super node started with --chain-dir is a validator: a one-validator
// chain makes blocks, and the super node's flags set its ports.
func TestSuperNodeValidator(t *testing.T) {
	dir := t.TempDir()
	home := filepath.Join(dir, "chain")
	id, err := chainnode.InitHome(home)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := chainnode.MakeGenesis(chainnode.GenesisConfig{ChainID: "oe-sn", Time: time.Now(), Params: app.DefaultParams(),
		Validators: []chainnode.Identity{id}, SelfStake: 1000 * app.BaseUnitsPerOEC})
	if err != nil {
		t.Fatal(err)
	}
	if err := chainnode.WriteGenesis(chainnode.GenesisPath(home), doc); err != nil {
		t.Fatal(err)
	}
	rpc := chaintest.FreePort(t)
	cfg, err := supernode.ParseFlags("supernode", []string{"--data", filepath.Join(dir, "sn"), "--loopback-only",
		"--listen", "/ip4/127.0.0.1/tcp/0", "--chain-dir", home, "--chain-timeout-commit", "100ms",
		"--chain-p2p", "127.0.0.1:" + itoa(chaintest.FreePort(t)), "--chain-rpc", "127.0.0.1:" + itoa(rpc)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- supernode.Run(ctx, cfg) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("super node: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("super node did not stop")
		}
	}()
	c, err := rpchttpNew("tcp://127.0.0.1:" + itoa(rpc))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(40 * time.Second)
	for {
		st, err := c.Status(ctx)
		if err == nil && st.SyncInfo.LatestBlockHeight >= 3 {
			if st.ValidatorInfo.VotingPower != 1000 {
				t.Fatalf("validator power %d, want 1000", st.ValidatorInfo.VotingPower)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no blocks: %v", err)
		}
		select {
		case err := <-done:
			t.Fatalf("super node stopped: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

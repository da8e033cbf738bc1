package devnet

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"oepc.dev/oepcos/packages/chain/chaintest"
)

// A resumed devnet whose chain's newest block is older than half the
// boxes' trusting period gives them a checkpoint of a fresh block: its
// height and the hash the chain has for it.
func TestBoxArgsCheckpointOnStaleResume(t *testing.T) {
	net := chaintest.Start(t, chaintest.Options{Nodes: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	net.WaitHeight(ctx, 0, 2)
	rpc := "tcp://" + net.Configs[0].RPCListen
	log := slog.New(slog.DiscardHandler)

	fresh := &chainSetup{genesis: "/g.json", resumed: true, trusting: time.Hour}
	args, err := fresh.boxArgs(ctx, log, rpc, 4)
	if err != nil || strings.Join(args, " ") != "--chain-genesis /g.json" {
		t.Fatalf("recent chain: %q %v, want the genesis only", args, err)
	}
	if args, _ := fresh.boxArgs(ctx, log, rpc, 2); args != nil {
		t.Fatalf("two super nodes (no witnesses enough): %q, want no light node", args)
	}

	stale := &chainSetup{genesis: "/g.json", resumed: true, trusting: time.Nanosecond}
	args, err = stale.boxArgs(ctx, log, rpc, 4)
	if err != nil || len(args) != 4 || args[2] != "--chain-checkpoint" {
		t.Fatalf("stale chain: %q %v, want a checkpoint", args, err)
	}
	hs, hash, _ := strings.Cut(args[3], ":")
	h, err := strconv.ParseInt(hs, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	c := net.Client(0)
	cm, err := c.Commit(ctx, &h)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%X", cm.SignedHeader.Hash()); hash != want {
		t.Fatalf("checkpoint %s, the chain's block %d is %s", args[3], h, want)
	}
	if _, err := hex.DecodeString(hash); err != nil || len(hash) != 64 {
		t.Fatalf("checkpoint hash %q", hash)
	}
}

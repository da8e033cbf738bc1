package supernode_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"oepc.dev/oepcos/packages/chain/app"
	"oepc.dev/oepcos/packages/chain/chaintest"
	"oepc.dev/oepcos/packages/chain/light"
	chainnode "oepc.dev/oepcos/packages/chain/node"
	"oepc.dev/oepcos/packages/p2p/p2ptest"
	"oepc.dev/oepcos/packages/supernode"
)

// A validating super node serves the chain's light protocol on its libp2p
// host: a box's provider gets verified-form light blocks from it.
func TestSuperNodeServesLightProtocol(t *testing.T) {
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
	cfg, err := supernode.ParseFlags("supernode", []string{"--data", filepath.Join(dir, "sn"), "--loopback-only",
		"--listen", "/ip4/127.0.0.1/tcp/0", "--chain-dir", home, "--chain-timeout-commit", "100ms",
		"--chain-p2p", "127.0.0.1:" + itoa(chaintest.FreePort(t)), "--chain-rpc", "127.0.0.1:" + itoa(chaintest.FreePort(t))})
	if err != nil {
		t.Fatal(err)
	}
	addrs := make(chan []string, 1)
	cfg.Ready = func(a []string) { addrs <- a }
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	done := make(chan error, 1)
	go func() { done <- supernode.Run(ctx, cfg) }()
	defer func() {
		cancel()
		<-done
	}()
	var info *peer.AddrInfo
	select {
	case a := <-addrs:
		info, err = peer.AddrInfoFromP2pAddr(ma.StringCast(a[0]))
		if err != nil {
			t.Fatal(err)
		}
	case err := <-done:
		t.Fatal(err)
	}
	box := p2ptest.Host(t)
	if err := box.Connect(ctx, *info); err != nil {
		t.Fatal(err)
	}
	p := light.NewProvider(box, info.ID, "oe-sn")
	for {
		lb, err := p.LightBlock(ctx, 0)
		if err == nil && lb.Height >= 2 {
			if lb.ChainID != "oe-sn" || lb.ValidatorSet.Size() != 1 {
				t.Fatalf("light block: %v", lb)
			}
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no light block from the super node: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

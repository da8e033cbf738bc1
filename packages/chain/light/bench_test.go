package light_test

import (
	"context"
	"crypto/ed25519"
	"oepc.dev/oepcos/packages/chain/light/lighttest"
	"testing"
	"time"

	"github.com/cometbft/cometbft/types"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"

	"oepc.dev/oepcos/packages/chain/app"
	"oepc.dev/oepcos/packages/chain/chaintest"
	"oepc.dev/oepcos/packages/chain/light"
	"oepc.dev/oepcos/packages/chain/node"
	"oepc.dev/oepcos/packages/chain/tx"
	"oepc.dev/oepcos/packages/p2p/p2ptest"
)

// benchClient is a light node over 4 in-process validators.
func benchClient(b *testing.B) (*light.Client, *chaintest.Net) {
	p := app.DefaultParams()
	p.MaxValidators = 4
	p.UnbondingBlocks = 100_000
	cn := chaintest.Start(b, chaintest.Options{Nodes: 4, Funded: 1, Params: p})
	gen, err := types.GenesisDocFromFile(node.GenesisPath(cn.Homes[0]))
	if err != nil {
		b.Fatal(err)
	}
	box := p2ptest.Host(b)
	var supers []peer.ID
	for _, sn := range lighttest.SuperNodes(b, cn) {
		box.Peerstore().AddAddrs(sn.ID(), sn.Addrs(), peerstore.PermanentAddrTTL)
		p2ptest.Connect(b, box, sn)
		supers = append(supers, sn.ID())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := light.Start(ctx, light.Config{Host: box, SuperNodes: supers[:3], Dir: b.TempDir(), Genesis: gen, TrustingPeriod: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c, cn
}

// BenchmarkVerifiedBalance is one proven account query: the primary's
// height, the value with its ICS23 proof, and (when the height is new)
// the header after it verified and cross-checked with the witnesses.
//
//	go test -run '^$' -bench VerifiedBalance -benchtime 50x ./packages/chain/light/
func BenchmarkVerifiedBalance(b *testing.B) {
	c, cn := benchClient(b)
	ctx := context.Background()
	a := tx.AddressOf(cn.Funded[0].Public().(ed25519.PublicKey))
	if _, _, _, err := c.Account(ctx, a); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, ok, _, err := c.Account(ctx, a); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkHistory20 is a proven history of 20 transfers (the Wallet
// page's), state proofs only.
//
//	go test -run '^$' -bench History20 -benchtime 10x ./packages/chain/light/
func BenchmarkHistory20(b *testing.B) {
	c, cn := benchClient(b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dest := tx.AddressOf(chaintest.Key(5).Public().(ed25519.PublicKey))
	for range 20 {
		if _, err := c.Send(ctx, cn.Funded[0], dest, 1, 1); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		if items, _, _, err := c.History(ctx, dest, light.HistoryOptions{Limit: 20}); err != nil || len(items) != 20 {
			b.Fatal(len(items), err)
		}
	}
}

package webui

import (
	"context"
	"crypto/ed25519"
	"net/http"
	"net/url"
	"oepc.dev/oepcos/packages/chain/light/lighttest"
	"os"
	"strings"
	"testing"
	"time"

	cmttypes "github.com/cometbft/cometbft/types"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"

	"oepc.dev/oepcos/packages/chain/app"
	"oepc.dev/oepcos/packages/chain/chaintest"
	"oepc.dev/oepcos/packages/chain/light"
	"oepc.dev/oepcos/packages/chain/node"
	"oepc.dev/oepcos/packages/chain/tx"
	"oepc.dev/oepcos/packages/chain/walletapi"
	"oepc.dev/oepcos/packages/localapi"
	"oepc.dev/oepcos/packages/p2p/p2ptest"
)

// The Wallet page against a real light node: 4 CometBFT validators in
// this process, each serving the light protocol on its own libp2p host,
// the box's light node and walletapi behind the UI, as in oepcd.
func TestWalletPageOnARealChain(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 4-validator chain")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	p := app.DefaultParams()
	p.MaxValidators = 4
	p.UnbondingBlocks = 100_000
	cn := chaintest.Start(t, chaintest.Options{Nodes: 4, Funded: 1, Params: p})
	gen, err := cmttypes.GenesisDocFromFile(node.GenesisPath(cn.Homes[0]))
	if err != nil {
		t.Fatal(err)
	}
	box := p2ptest.Host(t)
	var supers []peer.ID
	for _, sn := range lighttest.SuperNodes(t, cn) {
		box.Peerstore().AddAddrs(sn.ID(), sn.Addrs(), peerstore.PermanentAddrTTL)
		p2ptest.Connect(t, box, sn)
		supers = append(supers, sn.ID())
	}
	wallet := chaintest.Key(21)
	waddr := tx.AddressOf(wallet.Public().(ed25519.PublicKey))
	svc := walletapi.New(walletapi.Config{
		Start: func(ctx context.Context) (*light.Client, error) {
			return light.Start(ctx, light.Config{Host: box, SuperNodes: supers, Dir: t.TempDir(), Genesis: gen, TrustingPeriod: time.Hour})
		},
		Key:         func() (ed25519.PrivateKey, error) { return wallet, nil },
		UpdateEvery: 500 * time.Millisecond,
	})
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- svc.Run(runCtx) }()
	defer func() { stop(); <-ran }()
	const tok = "wallet-test-token"
	api := localapi.NewServer(tok, nil)
	svc.Register(api)
	e := envWith(t, api, tok)
	c := e.owner()

	// Fund the wallet from the genesis account through the light node.
	var lc *light.Client
	for lc == nil {
		if lc, err = svc.Client(); lc == nil {
			select {
			case <-ctx.Done():
				t.Fatalf("light node: %v", err)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	if _, err := lc.Send(ctx, cn.Funded[0], waddr, 5*app.BaseUnitsPerOEC, 1); err != nil {
		t.Fatal(err)
	}

	resp, body := e.get(c, "/wallet")
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	for _, want := range []string{"5.000000 OEC", waddr.String(), `id="send-form"`, `id="verified-height"`, "received", "oe-test", "supernode-1"} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	for i := range 4 {
		if !strings.Contains(body, shortID(cn.IDs[i].OperatorAddress().String())) {
			t.Errorf("super node %d missing", i)
		}
	}
	if strings.Contains(body, "could not") {
		t.Errorf("a part did not load:\n%s", body)
	}

	// Review, confirm: the transfer is proven in a block and in the history.
	dest := tx.AddressOf(chaintest.Key(22).Public().(ed25519.PublicKey))
	resp, body = e.post(c, "/wallet", url.Values{"do": {"review"}, "to": {dest.String()}, "amount": {"1.5"}, "fee": {"0.000003"}})
	if resp.StatusCode != 200 || !strings.Contains(body, "1.500003 OEC") {
		t.Fatalf("review: %d %s", resp.StatusCode, body)
	}
	if !strings.Contains(body, `name="nonce" value="0"`) {
		t.Fatalf("the confirmation does not carry the wallet's nonce 0:\n%s", body)
	}
	confirm := url.Values{"do": {"send"}, "to": {dest.String()}, "amount": {"1.5"}, "fee": {"0.000003"}, "confirm": {"yes"}, "nonce": {"0"}}
	resp, body = e.post(c, "/wallet", confirm)
	if resp.StatusCode != 200 || !strings.Contains(body, "proven in block") {
		t.Fatalf("send: %d %s", resp.StatusCode, body)
	}
	// The same confirmation posted again (a reload) sends nothing.
	if resp, again := e.post(c, "/wallet", confirm); resp.StatusCode != http.StatusConflict || !strings.Contains(again, "was sent since") {
		t.Fatalf("second post: %d %s", resp.StatusCode, again)
	}
	if f := os.Getenv("OEPC_WALLET_PAGE_HTML"); f != "" {
		// For a look at the page with a real chain (see the notes).
		os.WriteFile(f, []byte(body), 0o644)
	}
	if !strings.Contains(body, "3.499997 OEC") || !strings.Contains(body, "2 transactions in all") || !strings.Contains(body, shortID(dest.String())) {
		t.Fatalf("after the send the page shows:\n%s", body)
	}
	if d, _, _, err := lc.Account(ctx, dest); err != nil || d.Balance != 1_500_000 {
		t.Fatalf("recipient: %+v %v", d, err)
	}
}

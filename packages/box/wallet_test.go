package box

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"net/http"
	"oepc.dev/oepcos/packages/chain/light/lighttest"
	"strings"
	"testing"
	"time"

	"oepc.dev/oepcos/packages/apitype"
	"oepc.dev/oepcos/packages/chain/chaintest"
	"oepc.dev/oepcos/packages/chain/light"
	"oepc.dev/oepcos/packages/chain/node"
	"oepc.dev/oepcos/packages/chain/tx"
	"oepc.dev/oepcos/packages/cloud/keys"
	"oepc.dev/oepcos/packages/localapi"
)

// A box configured with a chain runs its light node against super nodes
// serving the light protocol: the wallet recovered from the phrase shows a
// proven balance and sends a transfer proven in a block.
func TestBoxWallet(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cn := chaintest.Start(t, chaintest.Options{Nodes: 3, Funded: 1})
	var boot, supers []string
	for _, h := range lighttest.SuperNodes(t, cn) {
		boot = append(boot, fmt.Sprintf("%s/p2p/%s", h.Addrs()[0], h.ID()))
		supers = append(supers, h.ID().String())
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan Info, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{DataDir: t.TempDir(), Name: "wallet", APIListener: ln, LoopbackOnly: true,
			ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Bootstrap: boot, HealthDir: "",
			Chain: ChainConfig{Genesis: node.GenesisPath(cn.Homes[0]), SuperNodes: supers, TrustingPeriod: time.Minute},
			Ready: func(i Info) { ready <- i }})
	}()
	var info Info
	select {
	case info = <-ready:
	case err := <-done:
		t.Fatalf("box: %v", err)
	}
	c := &localapi.Client{Base: info.API, Token: info.Token}

	// The wallet key comes from the recovery phrase setup shows.
	var setup struct{ Phrase string }
	if err := c.Do(ctx, "POST", "/v1/cloud/setup", nil, &setup); err != nil {
		t.Fatal(err)
	}
	secret, err := keys.ParsePhrase(setup.Phrase)
	if err != nil {
		t.Fatal(err)
	}
	key := light.WalletKey(keys.FromSecret(secret))
	addr := tx.AddressOf(key.Public().(ed25519.PublicKey))

	// Fund it straight through a validator's RPC.
	ft := &tx.Tx{ChainID: cn.ChainID, Nonce: 0, Fee: 1, Msg: tx.Transfer{To: addr, Amount: 777}}
	ft.Sign(cn.Funded[0])
	raw, _ := ft.Encode()
	if r, err := cn.Client(0).BroadcastTxCommit(ctx, raw); err != nil || r.TxResult.Code != 0 {
		t.Fatalf("funding: %v %+v", err, r)
	}

	var wa WalletAnswer
	for {
		err := c.Do(ctx, "GET", "/v1/wallet", nil, &wa)
		var ae *localapi.APIError
		if err == nil && wa.Balance == 777 {
			break
		}
		if err != nil && (!errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable) {
			t.Fatal(err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("wallet never showed the funding: %+v %v", wa, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	if wa.Address != addr.String() || !wa.Exists {
		t.Fatalf("wallet %+v, want address %s", wa, addr)
	}
	dest := tx.AddressOf(chaintest.Key(9).Public().(ed25519.PublicKey))
	var sa WalletSendAnswer
	if err := c.Do(ctx, "POST", "/v1/wallet/send", WalletSendRequest{To: dest.String(), Amount: 100, Fee: 2}, &sa); err != nil {
		t.Fatal(err)
	}
	if sa.Height <= 0 || sa.Nonce != 0 {
		t.Fatalf("send: %+v", sa)
	}
	if err := c.Do(ctx, "GET", "/v1/wallet", nil, &wa); err != nil || wa.Balance != 777-100-2 || wa.Nonce != 1 {
		t.Fatalf("after send: %+v %v", wa, err)
	}
	var st light.Status
	if err := c.Do(ctx, "GET", "/v1/chain/status", nil, &st); err != nil || st.VerifiedHeight < sa.Height || len(st.Witnesses) != 2 {
		t.Fatalf("chain status: %+v %v", st, err)
	}
	var hist apitype.WalletHistoryAnswer
	if err := c.Do(ctx, "GET", "/v1/wallet/history?limit=5&blocks=1", nil, &hist); err != nil || hist.Total != 2 || len(hist.Items) != 2 || hist.Items[1].Proven != "state+block" {
		t.Fatalf("history: %+v %v", hist, err)
	}
	if it := hist.Items[0]; it.Direction != "sent" || it.To != dest.String() || it.Amount != 100 || it.Fee != 2 || it.Hash != sa.Hash {
		t.Fatalf("history 0: %+v", it)
	}
	if it := hist.Items[1]; it.Direction != "received" || it.Amount != 777 {
		t.Fatalf("history 1: %+v", it)
	}
	if err := c.Do(ctx, "GET", "/v1/wallet/history?limit=0", nil, &hist); err == nil {
		t.Fatal("a history limit of 0 was taken")
	}
	var sn apitype.ChainSuperNodesAnswer
	if err := c.Do(ctx, "GET", "/v1/chain/supernodes", nil, &sn); err != nil || len(sn.SuperNodes) != 3 || sn.RewardPerBlock == 0 || sn.SuperNodes[0].Stake == 0 {
		t.Fatalf("super nodes: %+v %v", sn, err)
	}
	// oepc status --json carries the light node's verified height.
	for {
		var bs apitype.Status
		if err := c.Do(ctx, "GET", "/v1/status", nil, &bs); err != nil {
			t.Fatal(err)
		}
		if bs.Chain != nil && bs.Chain.Running && bs.Chain.VerifiedHeight > 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("status: %+v", bs.Chain)
		case <-time.After(200 * time.Millisecond):
		}
	}
	cancel()
	<-done
}

// A box without a chain says why on every wallet route and in its status.
func TestBoxWithoutChain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan Info, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{DataDir: t.TempDir(), Name: "nochain", APIListener: ln, LoopbackOnly: true,
			ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Ready: func(i Info) { ready <- i }})
	}()
	var info Info
	select {
	case info = <-ready:
	case err := <-done:
		t.Fatalf("box: %v", err)
	}
	c := &localapi.Client{Base: info.API, Token: info.Token}
	for _, path := range []string{"/v1/chain/status", "/v1/chain/supernodes"} {
		var ae *localapi.APIError
		err := c.Do(ctx, "GET", path, nil, nil)
		if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable || !strings.Contains(err.Error(), "--chain-genesis") {
			t.Fatalf("%s: %v", path, err)
		}
	}
	var bs apitype.Status
	if err := c.Do(ctx, "GET", "/v1/status", nil, &bs); err != nil || bs.Chain == nil || bs.Chain.Running || !strings.Contains(bs.Chain.Error, "--chain-genesis") {
		t.Fatalf("status: %+v %v", bs.Chain, err)
	}
	cancel()
	<-done
}

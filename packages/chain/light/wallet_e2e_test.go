package light_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/libp2p/go-libp2p/core/peer"

	"oepc.dev/oepcos/packages/chain/app"
	"oepc.dev/oepcos/packages/chain/chaintest"
	"oepc.dev/oepcos/packages/chain/light"
	"oepc.dev/oepcos/packages/chain/tx"
)

// A transaction's result is proven with its inclusion: a failed one is a
// clear error with its code; a primary that lies about a result is
// refused. The wallet's history is proven too, sent and received.
func TestResultsAndHistory(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	w := setup(t)
	c := w.start(t, ctx, t.TempDir(), w.supers[:3], "")
	defer c.Close()
	funder := w.net.Funded[0]
	wallet := chaintest.Key(9)
	waddr := tx.AddressOf(wallet.Public().(ed25519.PublicKey))
	dest := tx.AddressOf(chaintest.Key(8).Public().(ed25519.PublicKey))

	in, err := c.Send(ctx, funder, waddr, 9000, 2)
	if err != nil || in.Code != 0 {
		t.Fatalf("funding: %+v %v", in, err)
	}
	out, err := c.Send(ctx, wallet, dest, 1000, 3)
	if err != nil || out.Code != 0 {
		t.Fatalf("send: %+v %v", out, err)
	}
	// A delegation to a candidate that does not exist passes CheckTx and
	// fails in its block: proven included, and proven failed.
	acc, _, _, err := c.Account(ctx, waddr)
	if err != nil {
		t.Fatal(err)
	}
	bad := &tx.Tx{ChainID: c.ChainID(), Nonce: acc.Nonce, Fee: 4, Msg: tx.Delegate{Candidate: dest, Amount: 10}}
	bad.Sign(wallet)
	raw, _ := bad.Encode()
	if _, err := c.Broadcast(ctx, raw); err != nil {
		t.Fatal(err)
	}
	o, err := c.WaitTx(ctx, raw)
	var fe *light.TxFailedError
	if !errors.As(err, &fe) || fe.Code != app.CodeUnknownCandidate || o.Code != app.CodeUnknownCandidate || !strings.Contains(err.Error(), "no such candidate") {
		t.Fatalf("failed delegation: %+v %v", o, err)
	}
	t.Log(err)

	items, total, _, err := c.History(ctx, waddr, light.HistoryOptions{Limit: 10, Blocks: true})
	if err != nil {
		t.Fatal(err)
	}
	if total != 3 || len(items) != 3 {
		t.Fatalf("history: %d of %d: %+v", len(items), total, items)
	}
	for _, it := range items {
		if it.Proven != "state+block" {
			t.Fatalf("history item not proven in its block: %+v", it)
		}
	}
	// Newest first.
	if it := items[0]; it.Direction != "sent" || it.Type != "delegate" || it.Code != app.CodeUnknownCandidate || it.Reason == "" || it.Fee != 4 {
		t.Fatalf("history 0: %+v", it)
	}
	if it := items[1]; it.Direction != "sent" || it.To != dest.String() || it.Amount != 1000 || it.Fee != 3 || it.Code != 0 || it.Height != out.Height {
		t.Fatalf("history 1: %+v", it)
	}
	if it := items[2]; it.Direction != "received" || it.From != tx.AddressOf(funder.Public().(ed25519.PublicKey)).String() || it.Amount != 9000 || it.Height != in.Height {
		t.Fatalf("history 2: %+v", it)
	}
	if d, total, _, err := c.History(ctx, dest, light.HistoryOptions{Limit: 10}); err != nil || total != 1 || d[0].Direction != "received" {
		t.Fatalf("recipient's history: %+v %d %v", d, total, err)
	}
	if _, total, _, err := c.History(ctx, tx.AddressOf(chaintest.Key(77).Public().(ed25519.PublicKey)), light.HistoryOptions{Limit: 10}); err != nil || total != 0 {
		t.Fatalf("empty history: %d %v", total, err)
	}

	// Lies: a result claimed successful, a history transaction swapped.
	lies := map[string]func(light.Request, *light.Response){
		"result": func(q light.Request, a *light.Response) {
			if q.Op == light.OpTx && a.TxResult != nil {
				var r abci.ExecTxResult
				r.Unmarshal(a.TxResult)
				r.Code = 0
				a.TxResult, _ = r.Marshal()
			}
		},
		"history": func(q light.Request, a *light.Response) {
			if q.Op == light.OpTx && a.TxProof != nil {
				other := w.servers[0].Answer(context.Background(), light.Request{Op: light.OpTx, Hash: txHash(raw)})
				a.TxProof = other.TxProof
			}
		},
	}
	for name, lie := range lies {
		t.Run(name, func(t *testing.T) {
			liarID := liar(t, w, w.servers[0], lie)
			lc := w.start(t, ctx, t.TempDir(), []peer.ID{liarID, w.supers[1], w.supers[2]}, liarID)
			defer lc.Close()
			var err error
			if name == "result" {
				_, err = lc.WaitTx(ctx, raw)
			} else {
				_, _, _, err = lc.History(ctx, dest, light.HistoryOptions{Limit: 10})
			}
			if !errors.Is(err, light.ErrRefused) {
				t.Fatalf("a lie about a %s was not refused: %v", name, err)
			}
			t.Log(err)
		})
	}
}

// A box offline past its trusting period says so, and how to go on; a
// newer checkpoint is the way out.
func TestExpiredTrustingPeriod(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	w := setup(t)
	dir := filepath.Join(t.TempDir(), "oepcd")
	start := func(offset time.Duration, cpH int64, cpHash []byte) (*light.Client, error) {
		return light.Start(ctx, light.Config{
			Host: w.box, SuperNodes: w.supers[:3], Dir: dir, Genesis: w.gen,
			TrustingPeriod: 10 * time.Minute, CheckpointHeight: cpH, CheckpointHash: cpHash,
			Now: func() time.Time { return time.Now().Add(offset) },
		})
	}
	c, err := start(0, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.net.WaitHeight(ctx, 0, 5)
	st, err := c.Update(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.VerifiedHeight < 4 {
		t.Fatalf("verified height %d", st.VerifiedHeight)
	}
	c.Close()

	// An hour later (the box was off): refused, with the way out.
	_, err = start(time.Hour, 0, nil)
	if !errors.Is(err, light.ErrExpired) || !strings.Contains(err.Error(), "--chain-checkpoint") || !strings.Contains(err.Error(), "offline too long") {
		t.Fatalf("expired store: %v", err)
	}
	t.Log(err)

	// A checkpoint older than the store does not help.
	lb1 := w.servers[0].Answer(ctx, light.Request{Op: light.OpLightBlock, Height: 1})
	h1, _ := light.DecodeLightBlock(lb1.LightBlock)
	if _, err := start(time.Hour, 1, h1.Hash()); !errors.Is(err, light.ErrExpired) {
		t.Fatalf("older checkpoint: %v", err)
	}

	// A newer checkpoint (height and hash from a trusted source) starts the
	// light node again from it.
	cp := st.VerifiedHeight + 3
	w.net.WaitHeight(ctx, 0, cp+1)
	ans := w.servers[1].Answer(ctx, light.Request{Op: light.OpLightBlock, Height: cp})
	lb, err := light.DecodeLightBlock(ans.LightBlock)
	if err != nil {
		t.Fatal(err)
	}
	c, err = start(0, cp, lb.Hash())
	if err != nil {
		t.Fatalf("from a newer checkpoint: %v", err)
	}
	defer c.Close()
	if s := c.Status(ctx); s.VerifiedHeight < cp {
		t.Fatalf("verified height %d after the checkpoint %d", s.VerifiedHeight, cp)
	}
}

func txHash(raw []byte) []byte { h := sha256.Sum256(raw); return h[:] }

package devnet

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	"github.com/cometbft/cometbft/types"

	"oepc.dev/oepcos/packages/apitype"
	"oepc.dev/oepcos/packages/chain/app"
	"oepc.dev/oepcos/packages/chain/light"
	chainnode "oepc.dev/oepcos/packages/chain/node"
	"oepc.dev/oepcos/packages/chain/tx"
)

// ChainID is the devnet chain's.
const ChainID = "oe-devnet"

// FaucetGrant is what the devnet's faucet pays each box's wallet once.
const FaucetGrant = 1000 * app.BaseUnitsPerOEC

// devnetUnbonding is the devnet's unbonding period in blocks. A box's light
// node trusts a header for 2/3 of it (at the light node's assumed 1 s a
// block: about 18 hours), so a devnet stopped overnight resumes without a
// new trust root, and a chain halted for a while (a fault test) does not
// expire the boxes' trust. Undelegated coins come back after it.
const devnetUnbonding = 100_000

// ChainGenesis is where the devnet keeps its chain's genesis.
func ChainGenesis(dir string) string { return filepath.Join(dir, "chain-genesis.json") }

// FaucetKey is the devnet faucet's account key (funded at genesis).
func FaucetKey(dir string) string { return filepath.Join(dir, "faucet.key") }

// chainSetup is what setupChain prepares.
type chainSetup struct {
	superArgs [][]string // each super node's chain flags
	genesis   string
	faucet    ed25519.PrivateKey
	trusting  time.Duration // the boxes' light nodes' trusting period
	resumed   bool          // the chain has blocks already
}

// setupChain makes each super node's validator home (SUPERNODE/chain) and,
// the first time, the genesis: every super node a validator with 1,000 OEC
// bonded and 1,000,000 OEC in its operator account, and the faucet with
// 1,000,000 OEC per box. Run again, the devnet keeps its genesis and so
// resumes the same chain.
func setupChain(dir string, cfg Config, lay layout, sns []SuperNode) (*chainSetup, error) {
	if !cfg.Chain {
		return nil, nil
	}
	cs := &chainSetup{genesis: ChainGenesis(dir)}
	var ids []chainnode.Identity
	for _, sn := range sns {
		home := filepath.Join(sn.DataDir, "chain")
		if _, err := os.Stat(filepath.Join(home, "data", "blockstore.db")); err == nil {
			cs.resumed = true
		}
		id, err := chainnode.InitHome(home)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	faucet, err := chainnode.LoadOrCreateAccountKey(FaucetKey(dir))
	if err != nil {
		return nil, err
	}
	cs.faucet = faucet
	if _, err := os.Stat(cs.genesis); errors.Is(err, os.ErrNotExist) {
		p := app.DefaultParams()
		p.MaxValidators = uint64(len(ids))
		p.UnbondingBlocks = devnetUnbonding
		accts := []app.GenesisAccount{{Address: tx.AddressOf(faucet.Public().(ed25519.PublicKey)).String(), Balance: 1_000_000 * app.BaseUnitsPerOEC * uint64(max(cfg.Boxes, 1))}}
		for _, id := range ids {
			accts = append(accts, app.GenesisAccount{Address: id.OperatorAddress().String(), Balance: 1_000_000 * app.BaseUnitsPerOEC})
		}
		doc, err := chainnode.MakeGenesis(chainnode.GenesisConfig{ChainID: ChainID, Time: time.Now(), Params: p,
			Validators: ids, SelfStake: 1000 * app.BaseUnitsPerOEC, Accounts: accts})
		if err != nil {
			return nil, err
		}
		if err := chainnode.WriteGenesis(cs.genesis, doc); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	doc, err := types.GenesisDocFromFile(cs.genesis)
	if err != nil {
		return nil, fmt.Errorf("devnet: %s: %w", cs.genesis, err)
	}
	g, err := app.ParseGenesis(doc.AppState)
	if err != nil {
		return nil, fmt.Errorf("devnet: %s: %w", cs.genesis, err)
	}
	// As the box's light node computes it (its BlockTime default, 1 s).
	cs.trusting = time.Duration(g.Params.UnbondingBlocks) * time.Second * 2 / 3
	for i, sn := range sns {
		var peers []string
		for j, id := range ids {
			if j != i {
				peers = append(peers, fmt.Sprintf("%s@127.0.0.1:%d", id.NodeID, lay.ChainP2PPorts[j]))
			}
		}
		cs.superArgs = append(cs.superArgs, []string{
			"--chain-dir", filepath.Join(sn.DataDir, "chain"), "--chain-genesis", cs.genesis,
			"--chain-p2p", fmt.Sprintf("127.0.0.1:%d", lay.ChainP2PPorts[i]),
			"--chain-rpc", fmt.Sprintf("127.0.0.1:%d", lay.ChainRPCPorts[i]),
			"--chain-peers", strings.Join(peers, ","),
			"--chain-timeout-commit", "500ms",
		})
	}
	return cs, nil
}

// boxArgs are the boxes' light-node flags: the genesis as the trust root
// and, when the chain's newest block is older than half the trusting
// period (a devnet stopped for long), a checkpoint of a fresh block, as an
// image's instance config would carry. Without enough super nodes for a
// primary and its witnesses the boxes run no light node.
func (cs *chainSetup) boxArgs(ctx context.Context, log *slog.Logger, rpc string, supers int) ([]string, error) {
	if cs == nil || supers < light.MinWitnesses+1 {
		return nil, nil
	}
	args := []string{"--chain-genesis", cs.genesis}
	if !cs.resumed {
		return args, nil
	}
	c, err := rpchttp.New(rpc, "/websocket")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var h0 int64
	for {
		st, err := c.Status(ctx)
		if err == nil {
			if time.Since(st.SyncInfo.LatestBlockTime) < cs.trusting/2 {
				return args, nil
			}
			if h0 == 0 {
				h0 = st.SyncInfo.LatestBlockHeight
				log.Info("the chain's newest block is old: the boxes get a checkpoint of the next one", "height", h0, "time", st.SyncInfo.LatestBlockTime)
			} else if h := st.SyncInfo.LatestBlockHeight; h > h0 {
				cm, err := c.Commit(ctx, &h)
				if err == nil && cm.SignedHeader.Header != nil {
					return append(args, "--chain-checkpoint", fmt.Sprintf("%d:%X", h, cm.SignedHeader.Hash())), nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("devnet: the resumed chain made no new block (%v): see the super nodes' logs", err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// runFaucet pays each box's wallet FaucetGrant once, as soon as the box
// has one (after `oepc cloud setup`): the genesis funds the faucet for
// every box, but a box's wallet key comes from its recovery phrase, which
// does not exist before the owner sets up the cloud. A wallet the box's
// light node proves funded already is left alone (a resumed devnet).
func (cs *chainSetup) runFaucet(ctx context.Context, log *slog.Logger, rpcs []string, boxes []Box) {
	var clients []*rpchttp.HTTP
	for _, r := range rpcs {
		c, err := rpchttp.New(r, "/websocket")
		if err != nil {
			log.Error("faucet", "err", err)
			return
		}
		clients = append(clients, c)
	}
	next := 0 // the super node asked; the next one after a failure
	faucetAddr := tx.AddressOf(cs.faucet.Public().(ed25519.PublicKey))
	done := map[string]bool{}
	sent := map[string]bool{}
	for len(done) < len(boxes) {
		for _, b := range boxes {
			if done[b.Name] {
				continue
			}
			var w apitype.WalletAnswer
			cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			err := b.Client().Do(cctx, "GET", "/v1/wallet", nil, &w)
			cancel()
			if err != nil || w.Address == "" {
				continue // no cloud yet, or the light node not up yet
			}
			if w.Exists {
				done[b.Name] = true
				continue
			}
			if sent[w.Address] {
				continue
			}
			to, err := tx.ParseAddress(w.Address)
			if err != nil {
				continue
			}
			if err := faucetSend(ctx, clients[next%len(clients)], cs.faucet, faucetAddr, to); err != nil {
				log.Warn("faucet could not pay a box", "box", b.Name, "err", err)
				next++
				continue
			}
			sent[w.Address] = true
			log.Info("faucet paid a box's wallet", "box", b.Name, "address", w.Address, "oec", FaucetGrant/app.BaseUnitsPerOEC)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(3 * time.Second):
		}
	}
}

func faucetSend(ctx context.Context, c *rpchttp.HTTP, key ed25519.PrivateKey, from, to tx.Address) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	q, err := c.ABCIQuery(ctx, app.PathAccount, from[:])
	if err != nil {
		return err
	}
	if len(q.Response.Value) == 0 {
		return errors.New("the faucet has no account (a genesis from before the faucet: remove the devnet's directory to start a new chain)")
	}
	acc, err := app.DecodeAccount(q.Response.Value)
	if err != nil {
		return err
	}
	t := &tx.Tx{ChainID: ChainID, Nonce: acc.Nonce, Fee: 1, Msg: tx.Transfer{To: to, Amount: FaucetGrant}}
	if err := t.Sign(key); err != nil {
		return err
	}
	raw, err := t.Encode()
	if err != nil {
		return err
	}
	res, err := c.BroadcastTxCommit(ctx, raw)
	if err != nil {
		return err
	}
	if res.CheckTx.Code != 0 || res.TxResult.Code != 0 {
		return fmt.Errorf("refused: check %d %q, exec %d %q", res.CheckTx.Code, res.CheckTx.Log, res.TxResult.Code, res.TxResult.Log)
	}
	return nil
}

package devnet

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"oepc.dev/oepcos/packages/chain/app"
	chainnode "oepc.dev/oepcos/packages/chain/node"
)

// ChainID is the devnet chain's.
const ChainID = "oe-devnet"

// ChainGenesis is where the devnet keeps its chain's genesis.
func ChainGenesis(dir string) string { return filepath.Join(dir, "chain-genesis.json") }

// setupChain makes each super node's validator home (SUPERNODE/chain) and,
// the first time, the genesis: every super node a validator with 1,000 OEC
// bonded and 1,000,000 OEC in its operator account. Run again, the devnet
// keeps its genesis and so resumes the same chain. It returns each super
// node's chain flags.
func setupChain(dir string, cfg Config, lay layout, sns []SuperNode) ([][]string, error) {
	if !cfg.Chain {
		return nil, nil
	}
	var ids []chainnode.Identity
	for _, sn := range sns {
		id, err := chainnode.InitHome(filepath.Join(sn.DataDir, "chain"))
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	gpath := ChainGenesis(dir)
	if _, err := os.Stat(gpath); errors.Is(err, os.ErrNotExist) {
		p := app.DefaultParams()
		p.MaxValidators = uint64(len(ids))
		var accts []app.GenesisAccount
		for _, id := range ids {
			accts = append(accts, app.GenesisAccount{Address: id.OperatorAddress().String(), Balance: 1_000_000 * app.BaseUnitsPerOEC})
		}
		doc, err := chainnode.MakeGenesis(chainnode.GenesisConfig{ChainID: ChainID, Time: time.Now(), Params: p,
			Validators: ids, SelfStake: 1000 * app.BaseUnitsPerOEC, Accounts: accts})
		if err != nil {
			return nil, err
		}
		if err := chainnode.WriteGenesis(gpath, doc); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	var out [][]string
	for i, sn := range sns {
		var peers []string
		for j, id := range ids {
			if j != i {
				peers = append(peers, fmt.Sprintf("%s@127.0.0.1:%d", id.NodeID, lay.ChainP2PPorts[j]))
			}
		}
		out = append(out, []string{
			"--chain-dir", filepath.Join(sn.DataDir, "chain"), "--chain-genesis", gpath,
			"--chain-p2p", fmt.Sprintf("127.0.0.1:%d", lay.ChainP2PPorts[i]),
			"--chain-rpc", fmt.Sprintf("127.0.0.1:%d", lay.ChainRPCPorts[i]),
			"--chain-peers", strings.Join(peers, ","),
			"--chain-timeout-commit", "500ms",
		})
	}
	return out, nil
}

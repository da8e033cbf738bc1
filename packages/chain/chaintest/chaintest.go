// Package chaintest starts real OEChain networks for tests: several CometBFT
// validators in the test's process, each with its own home directory, on
// loopback ports, with short consensus timeouts.
package chaintest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	rpchttp "github.com/cometbft/cometbft/rpc/client/http"

	"oepc.dev/oepcos/packages/chain/app"
	"oepc.dev/oepcos/packages/chain/node"
	"oepc.dev/oepcos/packages/chain/tx"
)

// Options shape a test network.
type Options struct {
	Nodes  int        // validators' homes (all candidates at genesis)
	Params app.Params // zero: app.DefaultParams with MaxValidators = Nodes
	// TimeoutCommit defaults to 100 ms.
	TimeoutCommit time.Duration
	// Funded accounts get 1,000,000 OEC each at genesis.
	Funded int
}

// Net is a running test network.
type Net struct {
	ChainID string
	Homes   []string
	IDs     []node.Identity
	Configs []node.Config
	Nodes   []*node.Node // nil where stopped
	Funded  []ed25519.PrivateKey
	t       testing.TB
}

// FreePort returns a loopback port nothing listens on now.
func FreePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Key returns a deterministic test key.
func Key(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

// Start writes the homes and the genesis, and starts every node. The nodes
// stop when the test ends.
func Start(t testing.TB, o Options) *Net {
	t.Helper()
	if o.TimeoutCommit == 0 {
		o.TimeoutCommit = 100 * time.Millisecond
	}
	if o.Params == (app.Params{}) {
		o.Params = app.DefaultParams()
		o.Params.MaxValidators = uint64(o.Nodes)
	}
	n := &Net{ChainID: "oe-test", t: t}
	dir := t.TempDir()
	for i := range o.Nodes {
		home := filepath.Join(dir, fmt.Sprintf("v%d", i))
		id, err := node.InitHome(home)
		if err != nil {
			t.Fatal(err)
		}
		n.Homes, n.IDs = append(n.Homes, home), append(n.IDs, id)
	}
	var accts []app.GenesisAccount
	for i := range o.Funded {
		k := Key(byte(100 + i))
		n.Funded = append(n.Funded, k)
		accts = append(accts, app.GenesisAccount{Address: tx.AddressOf(k.Public().(ed25519.PublicKey)).String(), Balance: 1_000_000 * app.BaseUnitsPerOEC})
	}
	doc, err := node.MakeGenesis(node.GenesisConfig{
		ChainID: n.ChainID, Time: time.Now(), Params: o.Params, Validators: n.IDs,
		SelfStake: 1000 * app.BaseUnitsPerOEC, Accounts: accts,
	})
	if err != nil {
		t.Fatal(err)
	}
	p2pPorts := make([]int, o.Nodes)
	for i := range p2pPorts {
		p2pPorts[i] = FreePort(t)
	}
	for i, home := range n.Homes {
		if err := node.WriteGenesis(node.GenesisPath(home), doc); err != nil {
			t.Fatal(err)
		}
		var peers []string
		for j, id := range n.IDs {
			if j != i {
				peers = append(peers, fmt.Sprintf("%s@127.0.0.1:%d", id.NodeID, p2pPorts[j]))
			}
		}
		lvl := slog.LevelWarn + 4 // quiet unless CHAINTEST_LOG is set
		if os.Getenv("CHAINTEST_LOG") != "" {
			lvl = slog.LevelInfo
		}
		log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})).With("node", i)
		n.Configs = append(n.Configs, node.Config{
			Home: home, P2PListen: fmt.Sprintf("127.0.0.1:%d", p2pPorts[i]),
			RPCListen: fmt.Sprintf("127.0.0.1:%d", FreePort(t)), Peers: peers,
			LoopbackOnly: true, TimeoutCommit: o.TimeoutCommit, Logger: log,
		})
	}
	n.Nodes = make([]*node.Node, o.Nodes)
	for i := range n.Nodes {
		n.StartNode(i)
	}
	t.Cleanup(func() {
		for i := range n.Nodes {
			n.StopNode(i)
		}
	})
	return n
}

// StartNode (re)starts node i.
func (n *Net) StartNode(i int) {
	n.t.Helper()
	nd, err := node.Start(n.Configs[i])
	if err != nil {
		n.t.Fatalf("node %d: %v", i, err)
	}
	n.Nodes[i] = nd
}

// StopNode stops node i.
func (n *Net) StopNode(i int) {
	if n.Nodes[i] == nil {
		return
	}
	if err := n.Nodes[i].Stop(); err != nil {
		n.t.Logf("node %d stop: %v", i, err)
	}
	n.Nodes[i] = nil
}

// Client is an RPC client of node i.
func (n *Net) Client(i int) *rpchttp.HTTP {
	n.t.Helper()
	c, err := n.Nodes[i].Client()
	if err != nil {
		n.t.Fatal(err)
	}
	return c
}

// WaitHeight waits until node i has committed height h.
func (n *Net) WaitHeight(ctx context.Context, i int, h int64) {
	n.t.Helper()
	c := n.Client(i)
	for {
		st, err := c.Status(ctx)
		if err == nil && st.SyncInfo.LatestBlockHeight >= h {
			return
		}
		select {
		case <-ctx.Done():
			n.t.Fatalf("node %d did not reach height %d: %v (last status error: %v)", i, h, ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// StartTwin starts one more node that signs with validator i's consensus
// key (a copy of its key, with its own empty signing state): run beside
// validator i it double-signs, as an operator who starts the same key on
// two machines would. It returns the twin's index in Nodes; it stops with
// the test.
func (n *Net) StartTwin(i int) int {
	n.t.Helper()
	home := filepath.Join(filepath.Dir(n.Homes[i]), fmt.Sprintf("twin%d-%d", i, len(n.Homes)))
	if _, err := node.InitHome(home); err != nil {
		n.t.Fatal(err)
	}
	key, err := os.ReadFile(node.PrivValKeyPath(n.Homes[i]))
	if err != nil {
		n.t.Fatal(err)
	}
	gen, err := os.ReadFile(node.GenesisPath(n.Homes[i]))
	if err != nil {
		n.t.Fatal(err)
	}
	if err := os.WriteFile(node.PrivValKeyPath(home), key, 0o600); err != nil {
		n.t.Fatal(err)
	}
	if err := os.WriteFile(node.GenesisPath(home), gen, 0o600); err != nil {
		n.t.Fatal(err)
	}
	var peers []string
	for j, id := range n.IDs {
		peers = append(peers, fmt.Sprintf("%s@%s", id.NodeID, n.Configs[j].P2PListen))
	}
	cfg := n.Configs[i]
	cfg.Home, cfg.Peers = home, peers
	cfg.P2PListen = fmt.Sprintf("127.0.0.1:%d", FreePort(n.t))
	cfg.RPCListen = fmt.Sprintf("127.0.0.1:%d", FreePort(n.t))
	cfg.Logger = cfg.Logger.With("twin", i)
	n.Homes, n.IDs, n.Configs = append(n.Homes, home), append(n.IDs, n.IDs[i]), append(n.Configs, cfg)
	n.Nodes = append(n.Nodes, nil)
	k := len(n.Nodes) - 1
	n.StartNode(k)
	return k
}

// Package node runs an OEChain validator: a CometBFT 0.38 node in-process
// with the OEChain application (packages/chain/app) through a local ABCI
// client, its block store and the app's state in goleveldb (pure Go), its
// configuration and keys under one home directory. It also writes the keys
// and the genesis of a devnet of several validators.
//
// Home layout (CometBFT's own, so its tools can read it):
//
//	HOME/config/genesis.json            the chain's genesis
//	HOME/config/node_key.json           the P2P identity
//	HOME/config/priv_validator_key.json the validator's consensus key
//	HOME/config/operator.key            the operator account's Ed25519 seed (hex)
//	HOME/data/                          block store, CometBFT state, app state (app.db)
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	cfg "github.com/cometbft/cometbft/config"
	cmtlog "github.com/cometbft/cometbft/libs/log"
	cmtnode "github.com/cometbft/cometbft/node"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	"github.com/cometbft/cometbft/proxy"
	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	idb "github.com/cosmos/iavl/db"

	"oepc.dev/oepcos/packages/chain/app"
)

// Config is one validator node.
type Config struct {
	// Home holds the node's configuration, keys and data (layout above).
	Home string
	// Genesis is the genesis file; empty means Home/config/genesis.json.
	Genesis string
	// P2PListen and RPCListen are host:port; by default 127.0.0.1:26656 and
	// 127.0.0.1:26657.
	P2PListen string
	RPCListen string
	// Peers are the other validators, each NODEID@host:port.
	Peers []string
	// LoopbackOnly refuses listen and peer addresses off loopback.
	LoopbackOnly bool
	// TimeoutCommit is how long a node waits after a commit before the next
	// height (CometBFT's default is 1 s). Under 1 s the other consensus
	// timeouts shrink too: for tests and the devnet.
	TimeoutCommit time.Duration
	Logger        *slog.Logger
	// Ready is called once the node runs.
	Ready func(*Node)
}

// Node is a running validator.
type Node struct {
	cmt     *cmtnode.Node
	app     *app.App
	rpcAddr string
}

// RPCAddr is the node's RPC address, tcp://host:port.
func (n *Node) RPCAddr() string { return n.rpcAddr }

// Client returns an RPC client of the node's HTTP RPC.
func (n *Node) Client() (*rpchttp.HTTP, error) { return rpchttp.New(n.rpcAddr, "/websocket") }

// CometBFT is the underlying node, for tests and status.
func (n *Node) CometBFT() *cmtnode.Node { return n.cmt }

// Home paths.
func GenesisPath(home string) string { return filepath.Join(home, "config", "genesis.json") }
func NodeKeyPath(home string) string { return filepath.Join(home, "config", "node_key.json") }
func PrivValKeyPath(home string) string {
	return filepath.Join(home, "config", "priv_validator_key.json")
}
func privValStatePath(home string) string {
	return filepath.Join(home, "data", "priv_validator_state.json")
}

func isLoopback(hostport string) error {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return err
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%s is not a loopback address", hostport)
	}
	return nil
}

func (c *Config) defaults() error {
	if c.Home == "" {
		return errors.New("chain node: no home directory")
	}
	if c.Genesis == "" {
		c.Genesis = GenesisPath(c.Home)
	}
	if c.P2PListen == "" {
		c.P2PListen = "127.0.0.1:26656"
	}
	if c.RPCListen == "" {
		c.RPCListen = "127.0.0.1:26657"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.LoopbackOnly {
		addrs := []string{c.P2PListen, c.RPCListen}
		for _, p := range c.Peers {
			_, hp, ok := strings.Cut(p, "@")
			if !ok {
				return fmt.Errorf("chain node: peer %q: want NODEID@host:port", p)
			}
			addrs = append(addrs, hp)
		}
		for _, a := range addrs {
			if err := isLoopback(a); err != nil {
				return fmt.Errorf("chain node: loopback only: %w", err)
			}
		}
	}
	return nil
}

// cometConfig is the CometBFT configuration of c.
func (c *Config) cometConfig() *cfg.Config {
	cc := cfg.DefaultConfig()
	cc.SetRoot(c.Home)
	cc.Moniker = filepath.Base(c.Home)
	cc.Genesis = c.Genesis
	cc.DBBackend = "goleveldb"
	cc.ProxyApp = "oechain" // in-process: never dialled
	cc.P2P.ListenAddress = "tcp://" + c.P2PListen
	cc.P2P.PersistentPeers = strings.Join(c.Peers, ",")
	cc.P2P.PexReactor = false // validators know each other; no address gossip
	cc.P2P.AddrBookStrict = !c.LoopbackOnly
	cc.P2P.AllowDuplicateIP = c.LoopbackOnly
	cc.P2P.PersistentPeersMaxDialPeriod = 5 * time.Second
	cc.RPC.ListenAddress = "tcp://" + c.RPCListen
	cc.RPC.TimeoutBroadcastTxCommit = 10 * time.Second
	cc.Instrumentation.Prometheus = false
	cc.Mempool.Size = 5000 // bounded
	cc.TxIndex.Indexer = "kv"
	if c.TimeoutCommit > 0 {
		cc.Consensus.TimeoutCommit = c.TimeoutCommit
		if c.TimeoutCommit < time.Second {
			cc.Consensus.TimeoutPropose = 800 * time.Millisecond
			cc.Consensus.TimeoutProposeDelta = 100 * time.Millisecond
			cc.Consensus.TimeoutPrevote = 200 * time.Millisecond
			cc.Consensus.TimeoutPrevoteDelta = 100 * time.Millisecond
			cc.Consensus.TimeoutPrecommit = 200 * time.Millisecond
			cc.Consensus.TimeoutPrecommitDelta = 100 * time.Millisecond
			cc.Consensus.PeerGossipSleepDuration = 20 * time.Millisecond
		}
	}
	return cc
}

// Start starts the node. Stop it with Stop.
func Start(c Config) (*Node, error) {
	if err := c.defaults(); err != nil {
		return nil, err
	}
	cc := c.cometConfig()
	if err := cc.ValidateBasic(); err != nil {
		return nil, fmt.Errorf("chain node: config: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(c.Home, "data"), 0o700); err != nil {
		return nil, err
	}
	if _, err := os.Stat(c.Genesis); err != nil {
		return nil, fmt.Errorf("chain node: genesis: %w (make one with the devnet's genesis step, or copy the network's)", err)
	}
	if _, err := os.Stat(PrivValKeyPath(c.Home)); err != nil {
		return nil, fmt.Errorf("chain node: validator key: %w (run InitHome first)", err)
	}
	pv := privval.LoadOrGenFilePV(PrivValKeyPath(c.Home), privValStatePath(c.Home))
	nk, err := p2p.LoadNodeKey(NodeKeyPath(c.Home))
	if err != nil {
		return nil, fmt.Errorf("chain node: node key: %w", err)
	}
	stateDB, err := idb.NewGoLevelDB("app", filepath.Join(c.Home, "data"))
	if err != nil {
		return nil, fmt.Errorf("chain node: app state: %w", err)
	}
	a, err := app.New(app.Config{DB: stateDB, Logger: c.Logger.With("part", "chain-app"), KeepVersions: 10000})
	if err != nil {
		stateDB.Close()
		return nil, err
	}
	cn, err := cmtnode.NewNode(cc, pv, nk, proxy.NewLocalClientCreator(a),
		cmtnode.DefaultGenesisDocProviderFunc(cc), closeSafeProvider,
		cmtnode.DefaultMetricsProvider(cc.Instrumentation), slogAdapter{c.Logger.With("part", "cometbft")})
	if err != nil {
		a.Close()
		return nil, fmt.Errorf("chain node: %w", err)
	}
	if err := cn.Start(); err != nil {
		a.Close()
		return nil, fmt.Errorf("chain node: start: %w", err)
	}
	n := &Node{cmt: cn, app: a, rpcAddr: "tcp://" + c.RPCListen}
	c.Logger.Info("chain node up", "node_id", nk.ID(), "p2p", c.P2PListen, "rpc", c.RPCListen,
		"chain", cn.GenesisDoc().ChainID, "peers", len(c.Peers))
	return n, nil
}

// Stop stops the node and closes its state.
func (n *Node) Stop() error {
	var errs []error
	if n.cmt.IsRunning() {
		if err := n.cmt.Stop(); err != nil {
			errs = append(errs, err)
		}
		n.cmt.Wait()
	}
	errs = append(errs, n.app.Close())
	return errors.Join(errs...)
}

// Run runs the node until ctx ends.
func Run(ctx context.Context, c Config) error {
	n, err := Start(c)
	if err != nil {
		return err
	}
	if c.Ready != nil {
		c.Ready(n)
	}
	<-ctx.Done()
	return n.Stop()
}

// slogAdapter gives CometBFT's logger interface to slog. CometBFT logs every
// consensus step at Info: those go to Debug; its errors (mostly peers coming
// and going) are warnings here.
type slogAdapter struct{ l *slog.Logger }

func (s slogAdapter) Debug(msg string, kv ...any) { s.l.Debug(msg, kv...) }
func (s slogAdapter) Info(msg string, kv ...any)  { s.l.Debug(msg, kv...) }
func (s slogAdapter) Error(msg string, kv ...any) { s.l.Warn(msg, kv...) }
func (s slogAdapter) With(kv ...any) cmtlog.Logger {
	return slogAdapter{s.l.With(kv...)}
}

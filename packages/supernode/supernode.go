// Package supernode runs an OE super node: a bootstrap node for boxes, a DHT
// server, an AutoNAT service and a circuit relay for boxes that cannot reach
// each other directly. Super nodes find and stay connected to each other.
// With --chain-dir it is also an OEChain validator (packages/chain/node).
// (The mining pool joins it in a later issue.)
package supernode

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/cometbft/cometbft/rpc/client/local"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"golang.org/x/sync/errgroup"

	chainlight "oepc.dev/oepcos/packages/chain/light"
	chainnode "oepc.dev/oepcos/packages/chain/node"
	"oepc.dev/oepcos/packages/identity"
	"oepc.dev/oepcos/packages/p2p"
	"oepc.dev/oepcos/packages/version"
)

// Config is one super node.
type Config struct {
	DataDir      string
	ListenAddrs  []string
	Peers        []string // the other super nodes, multiaddrs with /p2p/ID
	LoopbackOnly bool
	// Relay limits what the relay gives the peers it serves; the zero
	// value is p2p.DefaultRelay (libp2p's relay v2 defaults).
	Relay  p2p.RelayConfig
	Logger *slog.Logger
	// Ready is called with the node's full addresses once it listens.
	Ready func(addrs []string)
	// Chain, when its Home is set, runs an OEChain validator beside the
	// libp2p node (its P2P and RPC on their own ports).
	Chain chainnode.Config
}

// ParseFlags reads a Config from command-line arguments.
func ParseFlags(name string, args []string) (Config, error) {
	var cfg Config
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.StringVar(&cfg.DataDir, "data", "/perm/home/supernode", "data directory (identity)")
	listen := p2p.AddrList{"/ip4/0.0.0.0/tcp/4001", "/ip4/0.0.0.0/udp/4001/quic-v1"}
	fs.Var(&listen, "listen", "comma-separated libp2p listen multiaddrs")
	var peers p2p.AddrList
	fs.Var(&peers, "peers", "comma-separated multiaddrs (with /p2p/ID) of the other super nodes")
	fs.BoolVar(&cfg.LoopbackOnly, "loopback-only", false, "talk only on 127.0.0.1/::1 (devnet)")
	p2p.RelayFlags(fs, &cfg.Relay)
	fs.StringVar(&cfg.Chain.Home, "chain-dir", "", "run an OEChain validator with its keys, config and data here (empty: no chain)")
	fs.StringVar(&cfg.Chain.Genesis, "chain-genesis", "", "the chain's genesis file (default CHAIN-DIR/config/genesis.json)")
	fs.StringVar(&cfg.Chain.P2PListen, "chain-p2p", "127.0.0.1:26656", "the validator's CometBFT P2P host:port")
	fs.StringVar(&cfg.Chain.RPCListen, "chain-rpc", "127.0.0.1:26657", "the validator's CometBFT RPC host:port")
	chainPeers := fs.String("chain-peers", "", "comma-separated NODEID@host:port of the other validators")
	fs.DurationVar(&cfg.Chain.TimeoutCommit, "chain-timeout-commit", 0, "CometBFT's timeout_commit (0: its default, 1s)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	cfg.ListenAddrs, cfg.Peers = listen, peers
	if *chainPeers != "" {
		cfg.Chain.Peers = strings.Split(*chainPeers, ",")
	}
	return cfg, nil
}

// Run runs the super node until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.DataDir == "" {
		return errors.New("supernode: no data directory")
	}
	if len(cfg.ListenAddrs) == 0 {
		return errors.New("supernode: a super node must listen")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return err
	}
	key, err := identity.LoadOrCreateKey(cfg.DataDir)
	if err != nil {
		return err
	}
	peers, err := p2p.ParseAddrInfos(cfg.Peers)
	if err != nil {
		return err
	}
	node, err := p2p.New(ctx, p2p.Config{
		Key:          key,
		ListenAddrs:  cfg.ListenAddrs,
		Bootstrap:    peers,
		SuperNode:    true,
		Relay:        cfg.Relay,
		LoopbackOnly: cfg.LoopbackOnly,
		Logger:       log,
	})
	if err != nil {
		return err
	}
	defer node.Close()
	var addrs []string
	for _, a := range node.P2PAddrs() {
		addrs = append(addrs, a.String())
	}
	log.Info("super node up", "peer", node.Host.ID(), "version", version.Version, "addrs", addrs)
	if cfg.Ready != nil {
		cfg.Ready(addrs)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return node.Run(gctx) })
	if cfg.Chain.Home != "" {
		cc := cfg.Chain
		cc.Logger = log.With("part", "chain")
		cc.LoopbackOnly = cc.LoopbackOnly || cfg.LoopbackOnly
		ready := cc.Ready
		cc.Ready = func(n *chainnode.Node) {
			// Boxes' light nodes reach the chain over libp2p.
			(&chainlight.Server{Client: local.New(n.CometBFT()), Logger: log.With("part", "chain-light")}).Register(node.Host)
			log.Info("serving the chain's light protocol", "protocol", chainlight.Protocol)
			if ready != nil {
				ready(n)
			}
		}
		g.Go(func() error {
			if err := chainnode.Run(gctx, cc); err != nil {
				return fmt.Errorf("chain validator: %w", err)
			}
			return nil
		})
	}
	g.Go(func() error {
		// Every super node keeps a connection to every other one it knows.
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			for _, p := range peers {
				if p.ID == node.Host.ID() || node.Host.Network().Connectedness(p.ID) == network.Connected {
					continue
				}
				cctx, cancel := context.WithTimeout(gctx, 5*time.Second)
				if err := node.Host.Connect(cctx, p); err == nil {
					node.Host.ConnManager().Protect(p.ID, "oe-supernode")
					log.Info("connected to super node", "peer", p.ID)
				}
				cancel()
			}
			select {
			case <-gctx.Done():
				return nil
			case <-t.C:
			}
		}
	})
	return g.Wait()
}

package box

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cometbft/cometbft/types"
	"github.com/libp2p/go-libp2p/core/peer"

	"oepc.dev/oepcos/packages/apitype"
	"oepc.dev/oepcos/packages/chain/light"
	"oepc.dev/oepcos/packages/chain/walletapi"
	"oepc.dev/oepcos/packages/localapi"
	"oepc.dev/oepcos/packages/p2p"
)

// ChainConfig is the box's light node (off without a genesis).
type ChainConfig struct {
	// Genesis is the chain's genesis file (in the image).
	Genesis string
	// SuperNodes serve the chain: peer IDs; empty: the bootstrap peers.
	SuperNodes []string
	// Checkpoint is HEIGHT:HASH (hex), a newer trust root than the genesis.
	Checkpoint     string
	TrustingPeriod time.Duration
}

// WalletAnswer is GET /v1/wallet.
type WalletAnswer = apitype.WalletAnswer

// WalletSendRequest is POST /v1/wallet/send.
type WalletSendRequest = apitype.WalletSendRequest

// WalletSendAnswer is a transfer proven in a block.
type WalletSendAnswer = apitype.WalletSendAnswer

func parseCheckpoint(s string) (int64, []byte, error) {
	if s == "" {
		return 0, nil, nil
	}
	hs, hash, ok := strings.Cut(s, ":")
	h, err := strconv.ParseInt(hs, 10, 64)
	b, herr := hex.DecodeString(hash)
	if !ok || err != nil || h <= 0 || herr != nil || len(b) != 32 {
		return 0, nil, fmt.Errorf("chain checkpoint %q: want HEIGHT:HASH (a positive height, 64 hex digits)", s)
	}
	return h, b, nil
}

// mountWallet serves the wallet's and the chain's routes
// (packages/chain/walletapi) and, when the box is configured with a
// chain, runs its light node.
func mountWallet(b *Box, api *localapi.Server) error {
	cc := b.Cfg.Chain
	cfg := walletapi.Config{Logger: b.Log.With("component", "chain-light"), Key: func() (ed25519.PrivateKey, error) {
		if b.Cloud == nil {
			return nil, &walletapi.KeyError{Status: http.StatusServiceUnavailable, Err: errors.New("no personal cloud on this box: the wallet key comes from the cloud's recovery phrase")}
		}
		o, err := b.Cloud.Owner()
		if err != nil {
			return nil, &walletapi.KeyError{Status: http.StatusConflict, Err: fmt.Errorf("the wallet key comes from the cloud's recovery phrase: %w (run `oepc cloud init` or `oepc cloud recover`)", err)}
		}
		return light.WalletKey(o), nil
	}}
	if cc.Genesis == "" {
		cfg.Off = apitype.ChainNotConfigured
	} else {
		gen, err := types.GenesisDocFromFile(cc.Genesis)
		if err != nil {
			return fmt.Errorf("chain genesis: %w", err)
		}
		ch, chash, err := parseCheckpoint(cc.Checkpoint)
		if err != nil {
			return err
		}
		var supers []peer.ID
		for _, s := range cc.SuperNodes {
			p, err := peer.Decode(s)
			if err != nil {
				return fmt.Errorf("chain super node %q: %w", s, err)
			}
			supers = append(supers, p)
		}
		if len(supers) == 0 {
			infos, _ := p2p.ParseAddrInfos(b.Cfg.Bootstrap)
			for _, i := range infos {
				supers = append(supers, i.ID)
			}
		}
		cfg.Start = func(ctx context.Context) (*light.Client, error) {
			return light.Start(ctx, light.Config{
				Host: b.Node.Host, SuperNodes: supers, Dir: filepath.Join(b.Cfg.DataDir, "chain-light"),
				Genesis: gen, CheckpointHeight: ch, CheckpointHash: chash, TrustingPeriod: cc.TrustingPeriod,
				Logger: b.Log.With("component", "chain-light"),
			})
		}
	}
	svc := walletapi.New(cfg)
	b.wallet = svc
	b.Go(svc.Run)
	svc.Register(api)
	return nil
}

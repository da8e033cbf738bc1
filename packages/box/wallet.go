package box

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"oepc.dev/oepcos/packages/apitype"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"crypto/ed25519"

	"github.com/cometbft/cometbft/types"
	"github.com/libp2p/go-libp2p/core/peer"

	"oepc.dev/oepcos/packages/chain/light"
	"oepc.dev/oepcos/packages/chain/tx"
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

// mountWallet starts the light node, when the box is configured with a
// chain, and serves the wallet's routes.
func mountWallet(b *Box, api *localapi.Server) error {
	cc := b.Cfg.Chain
	if cc.Genesis == "" {
		return nil
	}
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
	var lc atomic.Pointer[light.Client]
	var lastErr atomic.Value
	b.Go(func(ctx context.Context) error {
		for {
			if lc.Load() == nil {
				c, err := light.Start(ctx, light.Config{
					Host: b.Node.Host, SuperNodes: supers, Dir: filepath.Join(b.Cfg.DataDir, "chain-light"),
					Genesis: gen, CheckpointHeight: ch, CheckpointHash: chash, TrustingPeriod: cc.TrustingPeriod,
					Logger: b.Log.With("component", "chain-light"),
				})
				if err != nil {
					lastErr.Store(err.Error())
					b.Log.Warn("light node not up", "err", err)
				} else {
					lc.Store(c)
					defer c.Close()
				}
			}
			if c := lc.Load(); c != nil {
				if _, err := c.Update(ctx); err != nil {
					lastErr.Store(err.Error())
					b.Log.Warn("light node update", "err", err)
				}
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(5 * time.Second):
			}
		}
	})
	client := func(w http.ResponseWriter) *light.Client {
		c := lc.Load()
		if c == nil {
			msg, _ := lastErr.Load().(string)
			localapi.WriteError(w, http.StatusServiceUnavailable, fmt.Errorf("the light node is not up yet (%s)", msg))
		}
		return c
	}
	key := func(w http.ResponseWriter) ed25519.PrivateKey {
		if b.Cloud == nil {
			localapi.WriteError(w, http.StatusServiceUnavailable, errors.New("no personal cloud"))
			return nil
		}
		o, err := b.Cloud.Owner()
		if err != nil {
			localapi.WriteError(w, http.StatusConflict, fmt.Errorf("the wallet key comes from the cloud's recovery phrase: %w (run `oepc cloud init` or `oepc cloud recover`)", err))
			return nil
		}
		return light.WalletKey(o)
	}
	api.HandleFunc("GET /v1/chain/status", func(w http.ResponseWriter, r *http.Request) {
		if c := client(w); c != nil {
			localapi.WriteJSON(w, http.StatusOK, c.Status(r.Context()))
		}
	})
	api.HandleFunc("GET /v1/wallet", func(w http.ResponseWriter, r *http.Request) {
		k := key(w)
		if k == nil {
			return
		}
		c := client(w)
		if c == nil {
			return
		}
		addr := tx.AddressOf(k.Public().(ed25519.PublicKey))
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		defer cancel()
		acc, ok, h, err := c.Account(ctx, addr)
		if err != nil {
			localapi.WriteError(w, http.StatusBadGateway, err)
			return
		}
		localapi.WriteJSON(w, http.StatusOK, WalletAnswer{Address: addr.String(), Balance: acc.Balance, Nonce: acc.Nonce, Exists: ok, Height: h})
	})
	api.HandleFunc("POST /v1/wallet/send", func(w http.ResponseWriter, r *http.Request) {
		var req WalletSendRequest
		if err := localapi.ReadJSON(r, 4<<10, &req); err != nil {
			localapi.WriteError(w, http.StatusBadRequest, err)
			return
		}
		to, err := tx.ParseAddress(req.To)
		if err != nil || req.Amount == 0 {
			localapi.WriteError(w, http.StatusBadRequest, fmt.Errorf("send: want a recipient address and an amount above 0 (%v)", err))
			return
		}
		k := key(w)
		if k == nil {
			return
		}
		c := client(w)
		if c == nil {
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 60*time.Second)
		defer cancel()
		s, err := c.Send(ctx, k, to, req.Amount, max(req.Fee, 1))
		if err != nil {
			var ce *light.CheckError
			code := http.StatusBadGateway
			if errors.As(err, &ce) {
				code = http.StatusUnprocessableEntity
			}
			localapi.WriteError(w, code, err)
			return
		}
		localapi.WriteJSON(w, http.StatusOK, WalletSendAnswer{Hash: hex.EncodeToString(s.Hash), Height: s.Height, Nonce: s.Nonce})
	})
	return nil
}

package node

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	cmted25519 "github.com/cometbft/cometbft/crypto/ed25519"
	cmtjson "github.com/cometbft/cometbft/libs/json"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	"github.com/cometbft/cometbft/types"

	"oepc.dev/oepcos/packages/atomicfile"
	"oepc.dev/oepcos/packages/chain/app"
	"oepc.dev/oepcos/packages/chain/tx"
)

// Identity is what a validator's home holds that others need to know.
type Identity struct {
	NodeID     string            // P2P node ID (for NODEID@host:port)
	ConsPubKey ed25519.PublicKey // the validator's consensus key
	Operator   ed25519.PrivateKey
}

// OperatorAddress is the operator account.
func (id Identity) OperatorAddress() tx.Address {
	return tx.AddressOf(id.Operator.Public().(ed25519.PublicKey))
}

// OperatorKeyPath is where InitHome keeps the operator account's key.
func OperatorKeyPath(home string) string { return filepath.Join(home, "config", "operator.key") }

// InitHome creates (or reads, when they exist) a validator's keys under home.
func InitHome(home string) (Identity, error) {
	var id Identity
	for _, d := range []string{"config", "data"} {
		if err := os.MkdirAll(filepath.Join(home, d), 0o700); err != nil {
			return id, err
		}
	}
	nk, err := p2p.LoadOrGenNodeKey(NodeKeyPath(home))
	if err != nil {
		return id, fmt.Errorf("chain home: node key: %w", err)
	}
	id.NodeID = string(nk.ID())
	pv := privval.LoadOrGenFilePV(PrivValKeyPath(home), privValStatePath(home))
	pk, ok := pv.Key.PubKey.(cmted25519.PubKey)
	if !ok {
		return id, errors.New("chain home: validator key is not Ed25519")
	}
	id.ConsPubKey = ed25519.PublicKey(pk)
	id.Operator, err = loadOrCreateOperator(OperatorKeyPath(home))
	return id, err
}

// LoadOrCreateAccountKey reads an account key (a hex Ed25519 seed) from
// path, creating it the first time (the devnet's faucet).
func LoadOrCreateAccountKey(path string) (ed25519.PrivateKey, error) {
	return loadOrCreateOperator(path)
}

func loadOrCreateOperator(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		seed, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(seed) != ed25519.SeedSize {
			return nil, fmt.Errorf("chain home: %s is not a hex Ed25519 seed", path)
		}
		return ed25519.NewKeyFromSeed(seed), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, err
	}
	if err := atomicfile.Write(path, []byte(hex.EncodeToString(seed)+"\n"), 0o600); err != nil {
		return nil, err
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// GenesisConfig describes a new chain.
type GenesisConfig struct {
	ChainID string
	Time    time.Time // genesis time (the devnet uses its creation time)
	Params  app.Params
	// Validators are the genesis candidates, each with SelfStake bonded.
	Validators []Identity
	SelfStake  uint64
	// Accounts are funded at genesis.
	Accounts []app.GenesisAccount
}

// MakeGenesis builds the genesis document. Its validator list is the one the
// application elects from the candidates (InitChain returns the same).
func MakeGenesis(g GenesisConfig) (*types.GenesisDoc, error) {
	if g.ChainID == "" {
		return nil, errors.New("genesis: no chain ID")
	}
	ag := app.Genesis{Params: g.Params, Accounts: g.Accounts}
	doc := &types.GenesisDoc{
		ChainID:         g.ChainID,
		GenesisTime:     g.Time.UTC(),
		InitialHeight:   1,
		ConsensusParams: types.DefaultConsensusParams(),
	}
	for i, v := range g.Validators {
		ag.Candidates = append(ag.Candidates, app.GenesisCandidate{
			Operator:   v.OperatorAddress().String(),
			ConsPubKey: hex.EncodeToString(v.ConsPubKey),
			Moniker:    fmt.Sprintf("supernode-%d", i+1),
			SelfStake:  g.SelfStake,
		})
	}
	raw, err := json.Marshal(ag)
	if err != nil {
		return nil, err
	}
	vs, err := app.GenesisValidators(raw)
	if err != nil {
		return nil, err
	}
	for _, v := range vs {
		pk := cmted25519.PubKey(v.ConsPubKey)
		doc.Validators = append(doc.Validators, types.GenesisValidator{Address: pk.Address(), PubKey: pk, Power: v.Power})
	}
	doc.AppState = raw
	if err := doc.ValidateAndComplete(); err != nil {
		return nil, fmt.Errorf("genesis: %w", err)
	}
	return doc, nil
}

// WriteGenesis writes doc to path atomically.
func WriteGenesis(path string, doc *types.GenesisDoc) error {
	b, err := cmtjson.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return atomicfile.Write(path, b, 0o644)
}

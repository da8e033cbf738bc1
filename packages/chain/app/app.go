// Package app is OEChain's ABCI application for CometBFT 0.38 (ABCI 2.0):
// accounts and transfers, DPoS super-node elections with unbonding, slashing
// and jailing, shrinking block rewards and contribution credits, over one
// IAVL tree whose root is the app hash, so that every value a light node asks
// for comes with an ICS23 proof.
//
// State transitions are deterministic: they read only the block (its height,
// its evidence, its last commit, its transactions), iterate the tree in key
// order or sorted slices (never a map), and use integers for every amount.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/cosmos/iavl"
	idb "github.com/cosmos/iavl/db"

	"oepc.dev/oepcos/packages/chain/tx"
)

// AppVersion is the application protocol version reported to CometBFT.
const AppVersion = 1

const keyChainID = "chain_id"

// App is the ABCI application. CometBFT serializes calls into it; its own
// lock also makes it safe for direct use in tests.
type App struct {
	abci.BaseApplication

	mu      sync.Mutex
	log     *slog.Logger
	tree    *iavl.MutableTree
	chainID string
	// check is CheckTx's view: the committed state plus the effect of the
	// transactions CheckTx admitted since the last Commit.
	check map[tx.Address]Account
	// lastCommitted is the last saved version, for CheckTx and queries.
	lastCommitted *iavl.ImmutableTree
	// KeepVersions is how many past versions stay queryable (0: all).
	keepVersions int64
}

// Config sets up an App.
type Config struct {
	// DB holds the state tree; idb.NewGoLevelDB for a node, idb.NewMemDB
	// for tests.
	DB     idb.DB
	Logger *slog.Logger
	// KeepVersions is how many past heights stay queryable with proofs
	// (0 keeps every one).
	KeepVersions int64
}

// New opens the application's state.
func New(cfg Config) (*App, error) {
	if cfg.DB == nil {
		return nil, errors.New("chain app: no database")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := iavl.NewMutableTree(cfg.DB, 10000, false, iavl.NewNopLogger())
	if _, err := t.Load(); err != nil {
		return nil, fmt.Errorf("chain app: load state: %w", err)
	}
	a := &App{log: log, tree: t, check: map[tx.Address]Account{}, keepVersions: cfg.KeepVersions}
	if v := t.Version(); v > 0 {
		im, err := t.GetImmutable(v)
		if err != nil {
			return nil, fmt.Errorf("chain app: load version %d: %w", v, err)
		}
		a.lastCommitted = im
		id, err := im.Get([]byte(keyChainID))
		if err != nil {
			return nil, err
		}
		a.chainID = string(id)
	}
	return a, nil
}

func (a *App) st() store { return store{a.tree} }

// Info tells CometBFT where the application is, for the handshake replay.
func (a *App) Info(context.Context, *abci.RequestInfo) (*abci.ResponseInfo, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return &abci.ResponseInfo{
		Data:             "oechain",
		Version:          "1",
		AppVersion:       AppVersion,
		LastBlockHeight:  a.tree.Version(),
		LastBlockAppHash: a.tree.Hash(),
	}, nil
}

// InitChain writes the genesis state and returns the elected validator set,
// which replaces the one in the genesis file.
func (a *App) InitChain(_ context.Context, req *abci.RequestInitChain) (*abci.ResponseInitChain, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if req.InitialHeight > 1 {
		a.tree.SetInitialVersion(uint64(req.InitialHeight))
	}
	g, err := ParseGenesis(req.AppStateBytes)
	if err != nil {
		return nil, err
	}
	s := a.st()
	vs, err := g.apply(s)
	if err != nil {
		return nil, err
	}
	s.set([]byte(keyChainID), []byte(req.ChainId))
	a.chainID = req.ChainId
	a.log.Info("chain genesis", "chain", req.ChainId, "validators", len(vs), "accounts", len(g.Accounts))
	return &abci.ResponseInitChain{
		Validators: diffValidators(nil, vs),
		AppHash:    a.tree.WorkingHash(),
	}, nil
}

// committedAccount reads an account as of the last commit.
func (a *App) committedAccount(addr tx.Address) Account {
	if a.lastCommitted == nil {
		return a.st().account(addr)
	}
	v, err := a.lastCommitted.Get(AccountKey(addr))
	if err != nil {
		panic(err)
	}
	if v == nil {
		return Account{}
	}
	acc, err := DecodeAccount(v)
	if err != nil {
		panic(err)
	}
	return acc
}

func (a *App) committedParams() Params {
	if a.lastCommitted == nil {
		return a.st().params()
	}
	v, err := a.lastCommitted.Get([]byte(keyParams))
	if err != nil {
		panic(err)
	}
	p, err := decodeParams(v)
	if err != nil {
		panic(err)
	}
	return p
}

// CheckTx admits a transaction to the mempool: well formed, for this chain,
// correctly signed, with the sender's next nonce, at least the minimum fee,
// and funds for fee and amount. Each failure has its own code.
func (a *App) CheckTx(_ context.Context, req *abci.RequestCheckTx) (*abci.ResponseCheckTx, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	lookup := func(addr tx.Address) Account {
		if acc, ok := a.check[addr]; ok {
			return acc
		}
		return a.committedAccount(addr)
	}
	t, total, err := ante(req.Tx, a.chainID, a.committedParams(), lookup)
	if err != nil {
		return &abci.ResponseCheckTx{Code: codeOf(err), Codespace: Codespace, Log: err.Error()}, nil
	}
	acc := lookup(t.Sender())
	acc.Balance -= total
	acc.Nonce++
	a.check[t.Sender()] = acc
	return &abci.ResponseCheckTx{Code: CodeOK, GasWanted: 1}, nil
}

// FinalizeBlock executes a decided block: punishments from its evidence and
// last commit, rewards, its transactions, matured unbondings and, at an
// epoch's end, the election.
func (a *App) FinalizeBlock(_ context.Context, req *abci.RequestFinalizeBlock) (*abci.ResponseFinalizeBlock, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if req.Height <= 0 {
		return nil, fmt.Errorf("chain app: block height %d", req.Height)
	}
	h := uint64(req.Height)
	s := a.st()
	p := s.params()

	jailed := a.punish(s, p, h, req)
	a.reward(s, p, req)

	results := make([]*abci.ExecTxResult, len(req.Txs))
	var fees uint64
	for i, raw := range req.Txs {
		r, fee := a.deliver(s, p, h, raw)
		results[i] = r
		fees += fee // fees were balances: their sum fits
	}
	if fees > 0 {
		if op, ok := s.operatorOf(req.ProposerAddress); ok {
			acc := s.account(op)
			acc.Balance += fees
			s.setAccount(op, acc)
		} else {
			s.setUint([]byte(keySupply), s.uint([]byte(keySupply))-fees) // burnt
		}
	}
	matureUnbondings(s, h)
	ups := a.updateValidators(s, p, h, jailed)
	return &abci.ResponseFinalizeBlock{
		TxResults:        results,
		ValidatorUpdates: ups,
		AppHash:          a.tree.WorkingHash(),
	}, nil
}

// Commit saves the block's state as a new version of the tree.
func (a *App) Commit(context.Context, *abci.RequestCommit) (*abci.ResponseCommit, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, v, err := a.tree.SaveVersion()
	if err != nil {
		return nil, fmt.Errorf("chain app: save state: %w", err)
	}
	im, err := a.tree.GetImmutable(v)
	if err != nil {
		return nil, fmt.Errorf("chain app: reopen version %d: %w", v, err)
	}
	a.lastCommitted = im
	clear(a.check)
	if k := a.keepVersions; k > 0 && v > k && v%100 == 0 {
		if err := a.tree.DeleteVersionsTo(v - k); err != nil {
			a.log.Warn("pruning old state versions", "err", err)
		}
	}
	return &abci.ResponseCommit{}, nil
}

// Close closes the state tree.
func (a *App) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.tree.Close()
}

// PrepareProposal builds the proposer's block from its mempool's
// transactions, in their order, leaving out those that would fail their
// checks in this block: a nonce out of order (the mempool of a node that
// missed an account's earlier transaction by gossip), a balance spent by
// an earlier one. A transaction that fails its checks in a block still
// takes its place there, and the account's later transactions in every
// mempool then fail their recheck and are dropped; left out, it stays in
// the mempool for a later block. The block keeps within MaxTxBytes.
func (a *App) PrepareProposal(_ context.Context, req *abci.RequestPrepareProposal) (*abci.ResponsePrepareProposal, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.committedParams()
	pending := map[tx.Address]Account{}
	lookup := func(addr tx.Address) Account {
		if acc, ok := pending[addr]; ok {
			return acc
		}
		return a.committedAccount(addr)
	}
	var out [][]byte
	var size int64
	for _, raw := range req.Txs {
		if size+int64(len(raw)) > req.MaxTxBytes {
			break
		}
		t, total, err := ante(raw, a.chainID, p, lookup)
		if err != nil {
			continue
		}
		acc := lookup(t.Sender())
		acc.Balance -= total
		acc.Nonce++
		pending[t.Sender()] = acc
		out = append(out, raw)
		size += int64(len(raw))
	}
	if n := len(req.Txs) - len(out); n > 0 {
		a.log.Debug("left transactions out of the proposal", "height", req.Height, "left_out", n, "kept", len(out))
	}
	return &abci.ResponsePrepareProposal{Txs: out}, nil
}

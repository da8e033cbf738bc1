package light

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	dbm "github.com/cometbft/cometbft-db"
	cmtlog "github.com/cometbft/cometbft/libs/log"
	cmtmath "github.com/cometbft/cometbft/libs/math"
	cmtlight "github.com/cometbft/cometbft/light"
	"github.com/cometbft/cometbft/light/provider"
	"github.com/cometbft/cometbft/light/store"
	lightdb "github.com/cometbft/cometbft/light/store/db"
	cmtcrypto "github.com/cometbft/cometbft/proto/tendermint/crypto"
	cmtproto "github.com/cometbft/cometbft/proto/tendermint/types"
	"github.com/cometbft/cometbft/types"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"oepc.dev/oepcos/packages/chain/app"
	"oepc.dev/oepcos/packages/chain/proof"
	"oepc.dev/oepcos/packages/chain/tx"
)

// TrustLevel is the light client's skipping-verification trust level: a
// header is accepted on the word of validators holding more than a third of
// the power of a set it already trusts.
var TrustLevel = cmtmath.Fraction{Numerator: 1, Denominator: 3}

// MinWitnesses is how many super nodes besides the primary the light client
// cross-checks every header with.
const MinWitnesses = 2

// Errors a user can meet.
var (
	// ErrRefused wraps every value or header the light node would not
	// believe: a proof that does not verify, a header a witness contradicts.
	ErrRefused = errors.New("light node refused a super node's answer")
	// ErrExpired: the newest trusted header is older than the trusting
	// period (the box was offline too long) and no newer checkpoint is
	// configured.
	ErrExpired = errors.New("light node's trusted header is past its trusting period")
	// ErrNotFound is an unknown transaction (not in a block yet).
	ErrNotFound = errors.New("not found")
)

// ExpiredHelp is the way out of an expired trusting period.
const ExpiredHelp = "What to do: get a recent block's height and hash from a source you trust " +
	"(`oepc chain status` on another box, the operator of a super node, the project's site) and give " +
	"oepcd --chain-checkpoint HEIGHT:HASH (in the box's instance config); the light node starts again from that header. " +
	"An image updated with a newer trust root than this box's store starts again from it by itself"

// Config is a light node.
type Config struct {
	Host host.Host
	// SuperNodes serve the chain (their addresses in the host's peerstore
	// or findable). One is picked at random as the primary, the others
	// become witnesses: at least MinWitnesses+1 are needed.
	SuperNodes []peer.ID
	// Primary, when set (one of SuperNodes, e.g. the owner's own super
	// node), is the primary instead of a random one.
	Primary peer.ID
	// Dir holds the trusted store (a goleveldb database, light.db).
	Dir string
	// Genesis is the chain's genesis. It names the chain and, without a
	// checkpoint, gives the trust root: header 1 must be signed by more
	// than 2/3 of the genesis validators.
	Genesis *types.GenesisDoc
	// CheckpointHeight and CheckpointHash, when set, are the trust root
	// instead (from the image's instance config).
	CheckpointHeight int64
	CheckpointHash   []byte
	// TrustingPeriod must be shorter than the chain's unbonding period
	// (checked against the genesis' unbonding blocks × BlockTime).
	TrustingPeriod time.Duration
	// BlockTime is the chain's expected block interval (default 1 s).
	BlockTime time.Duration
	Now       func() time.Time
	Logger    *slog.Logger
	// Rand picks the primary and witnesses (default: math/rand/v2).
	Rand *rand.Rand
}

// Client is a running light node.
type Client struct {
	cfg     Config
	lc      *cmtlight.Client
	db      dbm.DB
	chainID string
	mu      sync.Mutex
	// written is the height of the last transaction this client proved:
	// queries read no older state, so a sender sees its own transfer.
	written atomic.Int64
	// updateErr is the last Update's error ("" after a good one).
	updateErr atomic.Pointer[string]
}

// StallAfter is how old the newest verified header may be before Status
// says why no newer one comes (blocks come every second or so).
const StallAfter = 30 * time.Second

// Start opens the trusted store, picks the primary and the witnesses and
// brings the light client up to a trusted header. Close it when done.
func Start(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.Host == nil || cfg.Genesis == nil || cfg.Dir == "" {
		return nil, errors.New("light node: needs a host, the chain's genesis and a directory")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.BlockTime <= 0 {
		cfg.BlockTime = time.Second
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	chainID := cfg.Genesis.ChainID
	g, err := app.ParseGenesis(cfg.Genesis.AppState)
	if err != nil {
		return nil, fmt.Errorf("light node: genesis: %w", err)
	}
	unbonding := time.Duration(g.Params.UnbondingBlocks) * cfg.BlockTime
	if cfg.TrustingPeriod <= 0 {
		cfg.TrustingPeriod = unbonding * 2 / 3
	}
	if cfg.TrustingPeriod >= unbonding {
		return nil, fmt.Errorf("light node: trusting period %s is not shorter than the unbonding period (%d blocks of %s = %s): a validator set could unbond and sign a fork unpunished",
			cfg.TrustingPeriod, g.Params.UnbondingBlocks, cfg.BlockTime, unbonding)
	}
	if len(cfg.SuperNodes) < MinWitnesses+1 {
		return nil, fmt.Errorf("light node: %d super nodes serve the chain; it needs a primary and at least %d witnesses (configure more super nodes)", len(cfg.SuperNodes), MinWitnesses)
	}
	peers := append([]peer.ID(nil), cfg.SuperNodes...)
	cfg.Rand.Shuffle(len(peers), func(i, j int) { peers[i], peers[j] = peers[j], peers[i] })
	if cfg.Primary != "" {
		for i, p := range peers {
			if p == cfg.Primary {
				peers[0], peers[i] = peers[i], peers[0]
			}
		}
	}
	primary := NewProvider(cfg.Host, peers[0], chainID)
	var witnesses []provider.Provider
	for _, p := range peers[1:] {
		witnesses = append(witnesses, NewProvider(cfg.Host, p, chainID))
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("light node: %w", err)
	}
	db, err := dbm.NewDB("light", dbm.GoLevelDBBackend, cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("light node: trusted store %s: %w", filepath.Join(cfg.Dir, "light.db"), err)
	}
	c := &Client{cfg: cfg, db: db, chainID: chainID}
	if err := c.open(ctx, primary, witnesses, lightdb.New(db, chainID)); err != nil {
		db.Close()
		return nil, err
	}
	h, _ := c.lc.LastTrustedHeight()
	cfg.Logger.Info("light node up", "chain", chainID, "trusted_height", h, "primary", primary.Peer(), "witnesses", len(witnesses))
	return c, nil
}

func (c *Client) options() []cmtlight.Option {
	return []cmtlight.Option{
		cmtlight.SkippingVerification(TrustLevel),
		cmtlight.Logger(slogAdapter{c.cfg.Logger.With("part", "cometbft-light")}),
		// Never roll the store back or wipe it on a super node's word.
		cmtlight.ConfirmationFunction(func(string) bool { return false }),
		cmtlight.MaxRetryAttempts(3),
	}
}

func (c *Client) open(ctx context.Context, primary *Provider, witnesses []provider.Provider, st store.Store) error {
	cfg := c.cfg
	var latest *types.LightBlock
	if lh, err := st.LastLightBlockHeight(); err == nil && lh > 0 {
		latest, _ = st.LightBlock(lh)
	}
	haveStore := latest != nil
	expired := haveStore && !latest.Time.Add(cfg.TrustingPeriod).After(cfg.Now())
	if haveStore && (cfg.CheckpointHeight == 0 || cfg.CheckpointHeight <= latest.Height) {
		if expired {
			return fmt.Errorf("%w: the newest header this box verified, %d of %s, is older than the trusting period %s (the box was offline too long to trust the super nodes' word now). %s",
				ErrExpired, latest.Height, latest.Time.UTC().Format(time.RFC3339), cfg.TrustingPeriod, ExpiredHelp)
		}
		lc, err := cmtlight.NewClientFromTrustedStore(c.chainID, cfg.TrustingPeriod, primary, witnesses, st, c.options()...)
		if err != nil {
			return fmt.Errorf("light node: trusted store: %w", err)
		}
		c.lc = lc
		return nil
	}
	to := cmtlight.TrustOptions{Period: cfg.TrustingPeriod, Height: cfg.CheckpointHeight, Hash: cfg.CheckpointHash}
	if cfg.CheckpointHeight == 0 {
		var err error
		to, err = c.genesisRoot(ctx, primary)
		if err != nil {
			return err
		}
	}
	if haveStore {
		// A newer checkpoint than the store: start again from it.
		cfg.Logger.Info("light node: trust root from the checkpoint, newer than the store", "checkpoint", to.Height, "stored", latest.Height)
		if err := st.Prune(0); err != nil {
			return fmt.Errorf("light node: clearing the trusted store: %w", err)
		}
	}
	lc, err := cmtlight.NewClient(ctx, c.chainID, to, primary, witnesses, st, c.options()...)
	if err != nil {
		if isExpired(err) {
			return fmt.Errorf("%w: the image's trust root (height %d) is older than the trusting period %s. %s", ErrExpired, to.Height, cfg.TrustingPeriod, ExpiredHelp)
		}
		return fmt.Errorf("light node: from trust root at height %d: %w", to.Height, err)
	}
	c.lc = lc
	return nil
}

func isExpired(err error) bool {
	var e cmtlight.ErrOldHeaderExpired
	return errors.As(err, &e)
}

// genesisRoot takes header 1 from the primary and checks it against the
// genesis: its chain, its validator set, and a commit signed by more than
// 2/3 of that set.
func (c *Client) genesisRoot(ctx context.Context, primary *Provider) (cmtlight.TrustOptions, error) {
	gen := c.cfg.Genesis
	h := gen.InitialHeight
	if h == 0 {
		h = 1
	}
	var vals []*types.Validator
	for _, v := range gen.Validators {
		vals = append(vals, types.NewValidator(v.PubKey, v.Power))
	}
	vs := types.NewValidatorSet(vals)
	var lb *types.LightBlock
	var err error
	for {
		lb, err = primary.LightBlock(ctx, h)
		if !errors.Is(err, provider.ErrHeightTooHigh) {
			break
		}
		select {
		case <-ctx.Done():
			return cmtlight.TrustOptions{}, fmt.Errorf("light node: waiting for the chain's first block: %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	if err != nil {
		return cmtlight.TrustOptions{}, fmt.Errorf("light node: first block from %s: %w", primary.Peer(), err)
	}
	if !bytes.Equal(lb.ValidatorsHash, vs.Hash()) {
		return cmtlight.TrustOptions{}, fmt.Errorf("%w: header %d from %s does not carry the genesis validators", ErrRefused, h, primary.Peer())
	}
	if err := vs.VerifyCommitLight(c.chainID, lb.Commit.BlockID, h, lb.Commit); err != nil {
		return cmtlight.TrustOptions{}, fmt.Errorf("%w: header %d from %s is not signed by the genesis validators: %v", ErrRefused, h, primary.Peer(), err)
	}
	return cmtlight.TrustOptions{Period: c.cfg.TrustingPeriod, Height: h, Hash: lb.Hash()}, nil
}

// Close stops the light node and closes its store.
func (c *Client) Close() error { return c.db.Close() }

// ChainID is the chain's ID.
func (c *Client) ChainID() string { return c.chainID }

func (c *Client) primary() *Provider { return c.lc.Primary().(*Provider) }

// Status is what the light node knows.
type Status struct {
	ChainID        string    `json:"chain_id"`
	VerifiedHeight int64     `json:"verified_height"`
	VerifiedTime   time.Time `json:"verified_time"`
	AppHash        []byte    `json:"verified_app_hash"`
	// Latest is the primary's latest height; Lag is Latest-VerifiedHeight.
	Latest    int64     `json:"latest"`
	Lag       int64     `json:"lag"`
	Primary   peer.ID   `json:"primary"`
	Witnesses []peer.ID `json:"witnesses"`
	// Stalled, when the newest verified header is older than StallAfter,
	// says why no newer one comes.
	Stalled string `json:"stalled,omitempty"`
}

// Update verifies the primary's newest header (cross-checked with the
// witnesses) and returns the status.
func (c *Client) Update(ctx context.Context) (Status, error) {
	c.mu.Lock()
	_, err := c.lc.Update(ctx, c.cfg.Now())
	c.mu.Unlock()
	msg := ""
	if err != nil {
		err = c.wrap(err)
		msg = err.Error()
	}
	c.updateErr.Store(&msg)
	return c.Status(ctx), err
}

// Status reports without verifying anything new (Latest is asked of the
// primary, unverified, to show the lag).
func (c *Client) Status(ctx context.Context) Status {
	s := Status{ChainID: c.chainID, Primary: c.primary().Peer()}
	for _, w := range c.lc.Witnesses() {
		s.Witnesses = append(s.Witnesses, w.(*Provider).Peer())
	}
	if h, err := c.lc.LastTrustedHeight(); err == nil && h > 0 {
		if lb, err := c.lc.TrustedLightBlock(h); err == nil {
			s.VerifiedHeight, s.VerifiedTime, s.AppHash = h, lb.Time, lb.AppHash
		}
	}
	a, err := c.primary().call(ctx, Request{Op: OpStatus})
	if err == nil && a.Error != "" {
		err = c.primary().answer(a, OpStatus)
	}
	var latestAge time.Duration
	if err == nil {
		s.Latest = a.Latest
		s.Lag = max(0, a.Latest-s.VerifiedHeight)
		if !a.LatestTime.IsZero() {
			latestAge = c.cfg.Now().Sub(a.LatestTime)
		}
	}
	if age := c.cfg.Now().Sub(s.VerifiedTime); s.VerifiedHeight > 0 && age > StallAfter {
		s.Stalled = c.stalled(s, age.Round(time.Second), latestAge, err)
	}
	return s
}

// stalled says why no header newer than s.VerifiedHeight is verified.
// latestAge is how old the primary says its newest block is (0: unknown):
// when that block is old too, the chain has stopped, whatever the heights.
func (c *Client) stalled(s Status, age, latestAge time.Duration, primaryErr error) string {
	last := ""
	if p := c.updateErr.Load(); p != nil && *p != "" {
		last = " (last update: " + *p + ")"
	}
	switch {
	case primaryErr != nil:
		return fmt.Sprintf("no new verified header for %s: the primary super node %s does not answer: %v%s", age, s.Primary, primaryErr, last)
	case s.Latest > s.VerifiedHeight+2 && latestAge <= StallAfter:
		return fmt.Sprintf("no new verified header for %s: the primary is at height %d, but its headers could not be verified%s", age, s.Latest, last)
	default:
		return fmt.Sprintf("no new verified header for %s: the super nodes are not making blocks (fewer than 2/3 of the voting power online?)%s", age, last)
	}
}

// wrap names a light client refusal for the user.
func (c *Client) wrap(err error) error {
	var div cmtlight.ErrConflictingHeaders
	switch {
	case errors.Is(err, cmtlight.ErrLightClientAttack), errors.As(err, &div):
		return fmt.Errorf("%w: a witness contradicts the primary's header (a light client attack; evidence sent to the super nodes): %v", ErrRefused, err)
	case isExpired(err):
		return fmt.Errorf("%w: %v. %s", ErrExpired, err, ExpiredHelp)
	}
	var inv cmtlight.ErrInvalidHeader
	if errors.As(err, &inv) {
		return fmt.Errorf("%w: invalid header: %v", ErrRefused, err)
	}
	return fmt.Errorf("light node: %w", err)
}

// VerifiedHeader returns the header at height, verified (fetching and
// cross-checking it if it is not in the store yet). It waits, until ctx
// ends, for a height the chain has not reached.
func (c *Client) VerifiedHeader(ctx context.Context, height int64) (*types.LightBlock, error) {
	if lb, err := c.lc.TrustedLightBlock(height); err == nil {
		return lb, nil
	}
	// Wait until the primary has the block after it: CometBFT's light
	// client takes a height its primary lacks for a failing primary, and
	// waits MaxBlockLag for a witness that lacks it; one block later the
	// witnesses have it too.
	if _, err := c.waitLatest(ctx, height+1); err != nil {
		return nil, err
	}
	for {
		c.mu.Lock()
		lb, err := c.lc.VerifyLightBlockAtHeight(ctx, height, c.cfg.Now())
		c.mu.Unlock()
		if err == nil {
			return lb, nil
		}
		if !errors.Is(err, provider.ErrHeightTooHigh) && !errors.Is(err, provider.ErrLightBlockNotFound) {
			return nil, c.wrap(err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("light node: header %d: %w (last: %v)", height, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitLatest waits until the primary's latest height is at least h, and
// returns it.
func (c *Client) waitLatest(ctx context.Context, h int64) (int64, error) {
	for {
		a, err := c.primary().call(ctx, Request{Op: OpStatus})
		if err == nil && a.Error == "" && a.Latest >= h {
			return a.Latest, nil
		}
		if err == nil && a.Error != "" {
			err = c.primary().answer(a, OpStatus)
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("light node: waiting for the chain to reach height %d: %w (last: %v)", h, ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Query runs a proven state query and checks the proof against the
// verified app hash of its height (in header h+1). It reads the state of
// two blocks before the primary's latest, so that header h+1 is at every
// witness already, and no older than the block of the last transaction
// this client proved. value is nil when the key is proven absent.
func (c *Client) Query(ctx context.Context, path string, data []byte) (value []byte, height int64, err error) {
	key, err := app.QueryKey(path, data)
	if err != nil || key == nil {
		return nil, 0, fmt.Errorf("light node: query %s: %v", path, err)
	}
	qh, err := c.queryHeight(ctx)
	if err != nil {
		return nil, 0, err
	}
	return c.queryAt(ctx, path, data, key, qh)
}

// queryHeight is the height Query reads the state of.
func (c *Client) queryHeight(ctx context.Context) (int64, error) {
	latest, err := c.waitLatest(ctx, max(3, c.written.Load()+2))
	if err != nil {
		return 0, err
	}
	return latest - 2, nil
}

// queryAt is Query at height qh, of the state key key.
func (c *Client) queryAt(ctx context.Context, path string, data, key []byte, qh int64) (value []byte, height int64, err error) {
	p := c.primary()
	a, err := p.call(ctx, Request{Op: OpQuery, Path: path, Data: data, Height: qh})
	if err != nil {
		return nil, 0, err
	}
	if err := p.answer(a, OpQuery); err != nil {
		return nil, 0, err
	}
	qa := a.Query
	if qa == nil {
		return nil, 0, fmt.Errorf("%w: super node %s sent no query answer", ErrRefused, p.Peer())
	}
	if qa.Code != 0 {
		return nil, 0, fmt.Errorf("query %s: code %d: %s", path, qa.Code, qa.Log)
	}
	if qa.Height != qh {
		return nil, 0, fmt.Errorf("%w: super node %s answered for height %d, not %d", ErrRefused, p.Peer(), qa.Height, qh)
	}
	var ops cmtcrypto.ProofOps
	if err := ops.Unmarshal(qa.Proof); err != nil {
		return nil, 0, fmt.Errorf("%w: proof from %s: %v", ErrRefused, p.Peer(), err)
	}
	lb, err := c.VerifiedHeader(ctx, qa.Height+1)
	if err != nil {
		return nil, 0, err
	}
	v := qa.Value
	if len(v) == 0 {
		v = nil
	}
	if err := proof.Verify(lb.AppHash, key, v, &ops); err != nil {
		return nil, 0, fmt.Errorf("%w: %s at height %d from super node %s: %v", ErrRefused, path, qa.Height, p.Peer(), err)
	}
	return v, qa.Height, nil
}

// Account is an account's verified state. A never-funded account is
// proven absent: Exists false, zero balance and nonce.
func (c *Client) Account(ctx context.Context, a tx.Address) (acc app.Account, exists bool, height int64, err error) {
	v, h, err := c.Query(ctx, app.PathAccount, a[:])
	if err != nil || v == nil {
		return app.Account{}, false, h, err
	}
	acc, err = app.DecodeAccount(v)
	if err != nil {
		return app.Account{}, false, 0, fmt.Errorf("%w: proven account value: %v", ErrRefused, err)
	}
	return acc, true, h, nil
}

// Candidate is a super-node candidate's verified state.
func (c *Client) Candidate(ctx context.Context, op tx.Address) (cand app.Candidate, exists bool, height int64, err error) {
	v, h, err := c.Query(ctx, app.PathCandidate, op[:])
	if err != nil || v == nil {
		return app.Candidate{}, false, h, err
	}
	cand, err = app.DecodeCandidate(v)
	return cand, err == nil, h, err
}

// Validators is the verified elected validator set of the app's state.
func (c *Client) Validators(ctx context.Context) ([]app.Validator, int64, error) {
	v, h, err := c.Query(ctx, app.PathValidators, nil)
	if err != nil || v == nil {
		return nil, h, err
	}
	vs, err := app.DecodeValidators(v)
	return vs, h, err
}

// Credit is a verified contribution credit (of an epoch, provider, kind).
func (c *Client) Credit(ctx context.Context, epoch uint64, provider tx.Address, kind uint16) (uint64, int64, error) {
	d := binary.BigEndian.AppendUint64(nil, epoch)
	d = append(d, provider[:]...)
	d = binary.BigEndian.AppendUint16(d, kind)
	v, h, err := c.Query(ctx, app.PathCredit, d)
	if err != nil || v == nil {
		return 0, h, err
	}
	n, err := app.DecodeUint64(v)
	return n, h, err
}

// CheckError is CheckTx's refusal of a transaction.
type CheckError struct {
	Code      uint32
	Codespace string
	Log       string
}

func (e *CheckError) Error() string {
	return fmt.Sprintf("transaction refused: %s code %d: %s", e.Codespace, e.Code, e.Log)
}

// Broadcast sends a signed transaction through the primary. It returns
// its hash once CheckTx accepted it (a *CheckError when it did not).
func (c *Client) Broadcast(ctx context.Context, raw []byte) ([]byte, error) {
	p := c.primary()
	a, err := p.call(ctx, Request{Op: OpBroadcast, Tx: raw})
	if err != nil {
		return nil, err
	}
	if err := p.answer(a, OpBroadcast); err != nil {
		return nil, err
	}
	if a.Check == nil {
		return nil, fmt.Errorf("super node %s sent no CheckTx answer", p.Peer())
	}
	if a.Check.Code != 0 {
		return nil, &CheckError{Code: a.Check.Code, Codespace: a.Check.Codespace, Log: a.Check.Log}
	}
	want := types.Tx(raw).Hash()
	if !bytes.Equal(a.Check.Hash, want) {
		return nil, fmt.Errorf("%w: super node %s named transaction %X, not %X", ErrRefused, p.Peer(), a.Check.Hash, want)
	}
	return want, nil
}

// ProveTx checks that the transaction raw is in a block: its Merkle proof
// against the data hash of a verified header, and its result's proof
// against the next header's results hash. It returns the height, or
// ErrNotFound while the transaction is in no block. A transaction that is
// in a block but failed is a *TxFailedError.
func (c *Client) ProveTx(ctx context.Context, raw []byte) (int64, error) {
	o, err := c.ProveOutcome(ctx, raw)
	if err == nil && o.Code != 0 {
		err = &TxFailedError{Hash: types.Tx(raw).Hash(), TxOutcome: o}
	}
	return o.Height, err
}

func (c *Client) proveTx(ctx context.Context, hash, raw []byte) (TxOutcome, error) {
	p := c.primary()
	a, err := p.call(ctx, Request{Op: OpTx, Hash: hash})
	if err != nil {
		return TxOutcome{}, err
	}
	if a.ErrorKind == ErrKindNotFound {
		return TxOutcome{}, fmt.Errorf("transaction %X: %w", hash, ErrNotFound)
	}
	if err := p.answer(a, OpTx); err != nil {
		return TxOutcome{}, err
	}
	var pb cmtproto.TxProof
	if err := pb.Unmarshal(a.TxProof); err != nil {
		return TxOutcome{}, fmt.Errorf("%w: tx proof from %s: %v", ErrRefused, p.Peer(), err)
	}
	tp, err := types.TxProofFromProto(pb)
	if err != nil {
		return TxOutcome{}, fmt.Errorf("%w: tx proof from %s: %v", ErrRefused, p.Peer(), err)
	}
	if err := sameTx(&tp, hash, raw); err != nil {
		return TxOutcome{}, fmt.Errorf("%w: %s: %v", ErrRefused, p.Peer(), err)
	}
	if a.TxHeight <= 0 {
		return TxOutcome{}, fmt.Errorf("%w: tx proof from %s at height %d", ErrRefused, p.Peer(), a.TxHeight)
	}
	lb, err := c.VerifiedHeader(ctx, a.TxHeight)
	if err != nil {
		return TxOutcome{}, err
	}
	if err := tp.Validate(lb.DataHash); err != nil {
		return TxOutcome{}, fmt.Errorf("%w: transaction %X is not in verified block %d: %v", ErrRefused, hash, a.TxHeight, err)
	}
	o, err := c.outcome(ctx, a, &tp)
	if err != nil {
		return TxOutcome{}, err
	}
	for {
		w := c.written.Load()
		if w >= a.TxHeight || c.written.CompareAndSwap(w, a.TxHeight) {
			break
		}
	}
	return o, nil
}

// WaitTx waits until the transaction raw is proven in a block, with its
// result, or ctx ends. A failed transaction is a *TxFailedError.
func (c *Client) WaitTx(ctx context.Context, raw []byte) (TxOutcome, error) {
	for {
		o, err := c.ProveOutcome(ctx, raw)
		if err == nil && o.Code != 0 {
			return o, &TxFailedError{Hash: types.Tx(raw).Hash(), TxOutcome: o}
		}
		if !errors.Is(err, ErrNotFound) {
			return o, err
		}
		select {
		case <-ctx.Done():
			return TxOutcome{}, fmt.Errorf("transaction not in a block yet: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

type slogAdapter struct{ l *slog.Logger }

func (s slogAdapter) Debug(msg string, kv ...any) { s.l.Debug(msg, kv...) }
func (s slogAdapter) Info(msg string, kv ...any)  { s.l.Debug(msg, kv...) }
func (s slogAdapter) Error(msg string, kv ...any) { s.l.Warn(msg, kv...) }
func (s slogAdapter) With(kv ...any) cmtlog.Logger {
	return slogAdapter{s.l.With(kv...)}
}

package light

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/cometbft/cometbft/crypto/merkle"
	cmtcrypto "github.com/cometbft/cometbft/proto/tendermint/crypto"
	"github.com/cometbft/cometbft/types"

	"oepc.dev/oepcos/packages/chain/app"
)

// resultProof is the super node's side: the result of transaction index of
// block height and its Merkle proof among the block's results.
func (s *Server) resultProof(ctx context.Context, height int64, index uint32) (res, prf []byte, err error) {
	br, err := s.Client.BlockResults(ctx, &height)
	if err != nil {
		return nil, nil, err
	}
	if int(index) >= len(br.TxsResults) {
		return nil, nil, fmt.Errorf("block %d has %d results, no result %d", height, len(br.TxsResults), index)
	}
	p := types.NewResults(br.TxsResults).ProveResult(int(index))
	if prf, err = p.ToProto().Marshal(); err != nil {
		return nil, nil, err
	}
	if res, err = br.TxsResults[index].Marshal(); err != nil {
		return nil, nil, err
	}
	return res, prf, nil
}

// TxOutcome is a transaction proven in a block, and its result proven too.
type TxOutcome struct {
	Height int64 `json:"height"`
	// Index is the transaction's place in its block.
	Index int64 `json:"index"`
	// Code is the proven result code (0: it succeeded); GasUsed too.
	Code    uint32 `json:"code"`
	GasUsed int64  `json:"gas_used,omitempty"`
	// Log is the super node's explanation of a failure. It is not covered
	// by the results hash (CometBFT leaves it out as non-deterministic):
	// Reason is the verified code's meaning.
	Log    string `json:"log,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Tx is the transaction's bytes (their hash is the transaction's).
	Tx []byte `json:"-"`
}

// TxFailedError is a transaction that is in a block but whose execution
// failed (its fee is paid and its nonce used; its message had no effect).
type TxFailedError struct {
	Hash []byte
	TxOutcome
}

func (e *TxFailedError) Error() string {
	s := fmt.Sprintf("transaction %X is in block %d but failed: code %d (%s)", e.Hash, e.Height, e.Code, e.Reason)
	if e.Log != "" {
		s += ": " + e.Log
	}
	return s + "; its fee was paid and its nonce used, nothing else changed"
}

// verifyResult checks a result and its proof against the verified
// LastResultsHash of header height+1, and that it is the result of
// transaction index of total.
func verifyResult(resultsHash []byte, index, total int64, resBytes, proofBytes []byte) (*abci.ExecTxResult, error) {
	var res abci.ExecTxResult
	if err := res.Unmarshal(resBytes); err != nil {
		return nil, fmt.Errorf("result: %v", err)
	}
	var pp cmtcrypto.Proof
	if err := pp.Unmarshal(proofBytes); err != nil {
		return nil, fmt.Errorf("result proof: %v", err)
	}
	p, err := merkle.ProofFromProto(&pp)
	if err != nil {
		return nil, fmt.Errorf("result proof: %v", err)
	}
	if p.Index != index || p.Total != total {
		return nil, fmt.Errorf("result proof is of result %d of %d, the transaction is %d of %d", p.Index, p.Total, index, total)
	}
	leaf, err := types.NewResults([]*abci.ExecTxResult{&res})[0].Marshal()
	if err != nil {
		return nil, err
	}
	if err := p.Verify(resultsHash, leaf); err != nil {
		return nil, fmt.Errorf("result does not verify against the results hash %X: %v", resultsHash, err)
	}
	return &res, nil
}

// outcome checks the answer's result against the verified header after
// the transaction's block.
func (c *Client) outcome(ctx context.Context, a Response, tp *types.TxProof) (TxOutcome, error) {
	p := c.primary()
	if len(a.TxResult) == 0 || len(a.ResultProof) == 0 {
		return TxOutcome{}, fmt.Errorf("%w: super node %s sent no result proof of the transaction", ErrRefused, p.Peer())
	}
	next, err := c.VerifiedHeader(ctx, a.TxHeight+1)
	if err != nil {
		return TxOutcome{}, err
	}
	res, err := verifyResult(next.LastResultsHash, tp.Proof.Index, tp.Proof.Total, a.TxResult, a.ResultProof)
	if err != nil {
		return TxOutcome{}, fmt.Errorf("%w: transaction's result from %s: %v", ErrRefused, p.Peer(), err)
	}
	o := TxOutcome{Height: a.TxHeight, Index: tp.Proof.Index, Code: res.Code, GasUsed: res.GasUsed, Tx: tp.Data}
	if res.Code != 0 {
		o.Log, o.Reason = res.Log, app.CodeText(res.Code)
	}
	return o, nil
}

// ProveOutcome proves the transaction raw is in a block and proves its
// result; it returns ErrNotFound while the transaction is in no block.
func (c *Client) ProveOutcome(ctx context.Context, raw []byte) (TxOutcome, error) {
	return c.proveTx(ctx, types.Tx(raw).Hash(), raw)
}

// TxByHash fetches a transaction by its hash and proves it in a block,
// and its result.
func (c *Client) TxByHash(ctx context.Context, hash []byte) (TxOutcome, error) {
	return c.proveTx(ctx, hash, nil)
}

var errSameTx = errors.New("tx proof is of another transaction")

func sameTx(tp *types.TxProof, hash, raw []byte) error {
	if raw != nil && !bytes.Equal(tp.Data, raw) {
		return errSameTx
	}
	if !bytes.Equal(types.Tx(tp.Data).Hash(), hash) {
		return errSameTx
	}
	return nil
}

package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	rpcclient "github.com/cometbft/cometbft/rpc/client"
	"github.com/cometbft/cometbft/types"

	"oepc.dev/oepcos/packages/chain/proof"
)

// SignedAppHash returns the app hash of the state at height h (it is in the
// header of block h+1), checked against the commit of that block: signed by
// more than 2/3 of the validator set the node reports for it. This trusts
// the node's validator set; the light node (oepcd) verifies the set itself.
func SignedAppHash(ctx context.Context, c rpcclient.Client, chainID string, h int64) ([]byte, error) {
	next := h + 1
	cm, err := c.Commit(ctx, &next)
	if err != nil {
		return nil, fmt.Errorf("commit %d: %w", next, err)
	}
	sh := cm.SignedHeader
	if sh.Header == nil || sh.Commit == nil || sh.Height != next {
		return nil, fmt.Errorf("commit %d: no header", next)
	}
	if err := sh.ValidateBasic(chainID); err != nil {
		return nil, fmt.Errorf("commit %d: %w", next, err)
	}
	vals, err := allValidators(ctx, c, next)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(vals.Hash(), sh.ValidatorsHash) {
		return nil, fmt.Errorf("commit %d: validator set does not match the header", next)
	}
	if err := vals.VerifyCommitLight(chainID, sh.Commit.BlockID, next, sh.Commit); err != nil {
		return nil, fmt.Errorf("commit %d: %w", next, err)
	}
	return sh.AppHash, nil
}

func allValidators(ctx context.Context, c rpcclient.Client, h int64) (*types.ValidatorSet, error) {
	var all []*types.Validator
	page, per := 1, 100
	for {
		r, err := c.Validators(ctx, &h, &page, &per)
		if err != nil {
			return nil, fmt.Errorf("validators at %d: %w", h, err)
		}
		all = append(all, r.Validators...)
		if len(all) >= r.Total || len(r.Validators) == 0 {
			break
		}
		page++
	}
	return types.NewValidatorSet(all), nil
}

// QueryProven runs an ABCI query with a proof and checks the proof against
// the signed app hash of the answer's height. value is nil when the key is
// proven absent.
func QueryProven(ctx context.Context, c rpcclient.Client, chainID, path string, data []byte) (value []byte, height int64, err error) {
	r, err := c.ABCIQueryWithOptions(ctx, path, data, rpcclient.ABCIQueryOptions{Prove: true})
	if err != nil {
		return nil, 0, err
	}
	res := r.Response
	if res.Code != 0 {
		return nil, 0, fmt.Errorf("query %s: code %d: %s", path, res.Code, res.Log)
	}
	// The app hash of height h is in block h+1: wait for it to exist.
	var hash []byte
	for {
		hash, err = SignedAppHash(ctx, c, chainID, res.Height)
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return nil, 0, fmt.Errorf("query %s at %d: %w", path, res.Height, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	if err := proof.Verify(hash, res.Key, res.Value, res.ProofOps); err != nil {
		return nil, 0, err
	}
	return res.Value, res.Height, nil
}

// ProveTx checks that the transaction with this hash is in a block: the
// node's Merkle proof of it against the data hash of that block's signed
// header. It returns the block height.
func ProveTx(ctx context.Context, c rpcclient.Client, chainID string, hash []byte) (int64, error) {
	r, err := c.Tx(ctx, hash, true)
	if err != nil {
		return 0, err
	}
	if !bytes.Equal(r.Proof.Data.Hash(), hash) || !bytes.Equal(r.Tx.Hash(), hash) {
		return 0, errors.New("tx proof is of another transaction")
	}
	h := r.Height
	cm, err := c.Commit(ctx, &h)
	if err != nil {
		return 0, err
	}
	vals, err := allValidators(ctx, c, h)
	if err != nil {
		return 0, err
	}
	sh := cm.SignedHeader
	if err := vals.VerifyCommitLight(chainID, sh.Commit.BlockID, h, sh.Commit); err != nil {
		return 0, fmt.Errorf("block %d: %w", h, err)
	}
	if err := r.Proof.Validate(sh.DataHash); err != nil {
		return 0, fmt.Errorf("tx proof against block %d: %w", h, err)
	}
	return h, nil
}

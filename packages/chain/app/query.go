package app

import (
	"context"
	"encoding/binary"
	"fmt"

	abci "github.com/cometbft/cometbft/abci/types"
	cmtcrypto "github.com/cometbft/cometbft/proto/tendermint/crypto"

	"oepc.dev/oepcos/packages/chain/proof"
	"oepc.dev/oepcos/packages/chain/tx"
)

// Query codes (besides CodeOK).
const (
	CodeUnknownQuery uint32 = 16 // no such query path
	CodeBadQuery     uint32 = 17 // the query's data or height is wrong
)

// Query paths. Each answers with the stored value (or none) and an ICS23
// proof of it (or of its absence) against the app hash of its height, which
// is in the header of the block after it (header(h+1).AppHash).
const (
	PathAccount    = "/account"    // data: address (20 bytes)
	PathCandidate  = "/candidate"  // data: operator address
	PathDelegation = "/delegation" // data: candidate address + delegator address
	PathValidators = "/validators" // data: none
	PathCredit     = "/credit"     // data: epoch (8, big-endian) + provider (20) + kind (2, big-endian)
	PathStore      = "/store"      // data: a raw state key
)

// QueryKey maps a query path and its data to the state key it reads.
func QueryKey(path string, data []byte) ([]byte, error) {
	switch path {
	case PathAccount, PathCandidate:
		if len(data) != tx.AddressLen {
			return nil, fmt.Errorf("%s wants a %d-byte address", path, tx.AddressLen)
		}
		var a tx.Address
		copy(a[:], data)
		if path == PathAccount {
			return AccountKey(a), nil
		}
		return CandidateKey(a), nil
	case PathDelegation:
		if len(data) != 2*tx.AddressLen {
			return nil, fmt.Errorf("%s wants candidate and delegator addresses", path)
		}
		var c, d tx.Address
		copy(c[:], data)
		copy(d[:], data[tx.AddressLen:])
		return DelegationKey(c, d), nil
	case PathValidators:
		return ValidatorsKey(), nil
	case PathCredit:
		if len(data) != 8+tx.AddressLen+2 {
			return nil, fmt.Errorf("%s wants epoch, provider and kind", path)
		}
		var p tx.Address
		copy(p[:], data[8:])
		return CreditKey(binary.BigEndian.Uint64(data), p, binary.BigEndian.Uint16(data[28:])), nil
	case PathStore:
		if len(data) == 0 {
			return nil, fmt.Errorf("%s wants a key", path)
		}
		return data, nil
	}
	return nil, nil
}

// Query answers a state query at a committed height (0: the latest).
func (a *App) Query(_ context.Context, req *abci.RequestQuery) (*abci.ResponseQuery, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	key, err := QueryKey(req.Path, req.Data)
	if err != nil {
		return &abci.ResponseQuery{Code: CodeBadQuery, Codespace: Codespace, Log: err.Error()}, nil
	}
	if key == nil {
		return &abci.ResponseQuery{Code: CodeUnknownQuery, Codespace: Codespace, Log: fmt.Sprintf("no query path %q", req.Path)}, nil
	}
	v := req.Height
	if v == 0 {
		v = a.tree.Version()
	}
	if v <= 0 || !a.tree.VersionExists(v) {
		return &abci.ResponseQuery{Code: CodeBadQuery, Codespace: Codespace,
			Log: fmt.Sprintf("height %d is not available (latest %d)", req.Height, a.tree.Version())}, nil
	}
	im, err := a.tree.GetImmutable(v)
	if err != nil {
		return nil, fmt.Errorf("chain app: version %d: %w", v, err)
	}
	val, err := im.Get(key)
	if err != nil {
		return nil, err
	}
	resp := &abci.ResponseQuery{Code: CodeOK, Key: key, Value: val, Height: v}
	if req.Prove {
		cp, err := im.GetProof(key)
		if err != nil {
			return nil, fmt.Errorf("chain app: proof of %q at %d: %w", key, v, err)
		}
		bz, err := cp.Marshal()
		if err != nil {
			return nil, err
		}
		resp.ProofOps = &cmtcrypto.ProofOps{Ops: []cmtcrypto.ProofOp{{Type: proof.OpType, Key: key, Data: bz}}}
	}
	return resp, nil
}

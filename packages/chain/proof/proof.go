// Package proof checks OEChain state proofs: ICS23 proofs from the IAVL tree
// whose root is the app hash. A light node calls it with an app hash it has
// verified (header(h+1).AppHash for a value queried at height h).
//
// Absence is checked here rather than through CometBFT's light/rpc, which
// passes the key where the key path belongs (tendermint#7640): an absence
// proof is accepted only if both neighbours it names are proven against the
// root, they are adjacent in the tree, and the key falls strictly between.
package proof

import (
	"bytes"
	"errors"
	"fmt"

	cmtcrypto "github.com/cometbft/cometbft/proto/tendermint/crypto"
	ics23 "github.com/cosmos/ics23/go"
)

// OpType names OEChain's proof op.
const OpType = "ics23:iavl"

// ErrInvalid is wrapped by every verification failure.
var ErrInvalid = errors.New("state proof does not verify")

func single(ops *cmtcrypto.ProofOps, key []byte) (*ics23.CommitmentProof, error) {
	if ops == nil || len(ops.Ops) != 1 {
		return nil, fmt.Errorf("%w: want exactly one proof op", ErrInvalid)
	}
	op := ops.Ops[0]
	if op.Type != OpType {
		return nil, fmt.Errorf("%w: proof op %q, want %q", ErrInvalid, op.Type, OpType)
	}
	if !bytes.Equal(op.Key, key) {
		return nil, fmt.Errorf("%w: proof is for key %x, not %x", ErrInvalid, op.Key, key)
	}
	var cp ics23.CommitmentProof
	if err := cp.Unmarshal(op.Data); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return &cp, nil
}

// Verify checks that key holds value (non-empty) in the state whose root is
// appHash; with a nil value it checks that key is absent.
func Verify(appHash, key, value []byte, ops *cmtcrypto.ProofOps) error {
	if len(appHash) == 0 || len(key) == 0 {
		return fmt.Errorf("%w: no app hash or no key", ErrInvalid)
	}
	cp, err := single(ops, key)
	if err != nil {
		return err
	}
	if value == nil {
		return verifyAbsent(appHash, key, cp)
	}
	ex := cp.GetExist()
	if ex == nil {
		return fmt.Errorf("%w: not an existence proof", ErrInvalid)
	}
	if !bytes.Equal(ex.Key, key) || !bytes.Equal(ex.Value, value) {
		return fmt.Errorf("%w: proof is of another key or value", ErrInvalid)
	}
	if !ics23.VerifyMembership(ics23.IavlSpec, appHash, cp, key, value) {
		return fmt.Errorf("%w: key %x is not in the tree with root %X", ErrInvalid, key, appHash)
	}
	return nil
}

func verifyAbsent(root, key []byte, cp *ics23.CommitmentProof) error {
	ne := cp.GetNonexist()
	if ne == nil {
		return fmt.Errorf("%w: not an absence proof", ErrInvalid)
	}
	if !bytes.Equal(ne.Key, key) {
		return fmt.Errorf("%w: absence proof is for key %x", ErrInvalid, ne.Key)
	}
	if ne.Left == nil && ne.Right == nil {
		return fmt.Errorf("%w: absence proof has no neighbours", ErrInvalid)
	}
	// Each neighbour is a real leaf of this tree, on the right side of key.
	for _, n := range []struct {
		ex   *ics23.ExistenceProof
		side int
	}{{ne.Left, -1}, {ne.Right, 1}} {
		if n.ex == nil {
			continue
		}
		if bytes.Compare(n.ex.Key, key) != n.side {
			return fmt.Errorf("%w: neighbour %x is not on its side of %x", ErrInvalid, n.ex.Key, key)
		}
		if err := n.ex.Verify(ics23.IavlSpec, root, n.ex.Key, n.ex.Value); err != nil {
			return fmt.Errorf("%w: neighbour %x: %v", ErrInvalid, n.ex.Key, err)
		}
	}
	// And they are adjacent (or the end of the tree): ics23 checks the paths.
	if !ics23.VerifyNonMembership(ics23.IavlSpec, root, cp, key) {
		return fmt.Errorf("%w: neighbours are not adjacent under root %X", ErrInvalid, root)
	}
	return nil
}

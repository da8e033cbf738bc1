// Package light is the box's OEChain light node: CometBFT's light.Client
// (skipping verification at trust level 1/3, one primary and at least two
// witnesses for divergence detection) reaching the super nodes over a
// libp2p protocol of its own instead of HTTP RPC, and state queries whose
// ICS23 proofs it checks itself against the app hash of a verified header.
//
// The protocol (/oe/chain/light/1.0.0) is one request and one answer per
// stream, each a packages/wire frame (a uvarint length and a JSON document)
// with a size limit. CometBFT types travel as their protobuf encoding inside
// the JSON (base64). The super node side (Server) answers from its local
// validator; the box side is a light/provider.Provider (Provider) plus the
// query, broadcast and transaction-proof calls of Client.
package light

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/protocol"

	"oepc.dev/oepcos/packages/wire"
)

// Protocol is the light protocol's libp2p ID.
const Protocol protocol.ID = "/oe/chain/light/1.0.0"

// Size limits of the two frames. A light block carries the whole validator
// set (about 200 bytes a validator as protobuf, a third more as base64):
// 4 MiB holds over ten thousand validators, CometBFT's own light provider's
// cap.
const (
	MaxRequest  = 64 << 10
	MaxResponse = 4 << 20
)

// Ops of a request.
const (
	OpStatus     = "status"      // the chain ID and latest height
	OpLightBlock = "light_block" // Height (0: latest)
	OpQuery      = "query"       // Path, Data, Height (0: latest), always proven
	OpBroadcast  = "broadcast"   // Tx: checked by CheckTx and put in the mempool
	OpTx         = "tx"          // Hash: the transaction's height and Merkle proof
	OpEvidence   = "evidence"    // Evidence: a light client attack the box saw
)

// Request is what a box asks.
type Request struct {
	Op       string `json:"op"`
	Height   int64  `json:"height,omitempty"`
	Path     string `json:"path,omitempty"`
	Data     []byte `json:"data,omitempty"`
	Tx       []byte `json:"tx,omitempty"`
	Hash     []byte `json:"hash,omitempty"`
	Evidence []byte `json:"evidence,omitempty"` // cmtproto.Evidence
}

// Error kinds a super node names, so the box's light client can tell a
// height it does not have yet from a broken peer.
const (
	ErrKindTooHigh  = "height_too_high"
	ErrKindNotFound = "not_found"
	ErrKindBad      = "bad_request"
	ErrKindInternal = "internal"
)

// Response is a super node's answer. Exactly one of the parts is set,
// or Error.
type Response struct {
	Error     string `json:"error,omitempty"`
	ErrorKind string `json:"error_kind,omitempty"`

	ChainID string `json:"chain_id,omitempty"`
	Latest  int64  `json:"latest,omitempty"` // status: latest committed height
	// LatestTime is the latest block's time as the super node says
	// (unverified: only to tell a halted chain from headers that fail).
	LatestTime time.Time `json:"latest_time,omitzero"`

	LightBlock []byte `json:"light_block,omitempty"` // cmtproto.LightBlock

	Query *QueryAnswer `json:"query,omitempty"`

	Check *CheckAnswer `json:"check,omitempty"`

	TxHeight int64  `json:"tx_height,omitempty"`
	TxProof  []byte `json:"tx_proof,omitempty"` // cmtproto.TxProof
	// TxResult is the transaction's execution result (abci.ExecTxResult)
	// and ResultProof its Merkle proof (cmtcrypto.Proof) against the
	// LastResultsHash of header TxHeight+1, which covers the result's
	// deterministic fields (code, data, gas wanted and used).
	TxResult    []byte `json:"tx_result,omitempty"`
	ResultProof []byte `json:"result_proof,omitempty"`
}

// QueryAnswer is an ABCI query's answer with its proof.
type QueryAnswer struct {
	Code   uint32 `json:"code"`
	Log    string `json:"log,omitempty"`
	Key    []byte `json:"key,omitempty"`
	Value  []byte `json:"value,omitempty"`
	Height int64  `json:"height"`
	Proof  []byte `json:"proof,omitempty"` // cmtproto.ProofOps
}

// CheckAnswer is CheckTx's verdict on a broadcast transaction.
type CheckAnswer struct {
	Code      uint32 `json:"code"`
	Codespace string `json:"codespace,omitempty"`
	Log       string `json:"log,omitempty"`
	Hash      []byte `json:"hash"`
}

var errOp = errors.New("unknown op")

// ReadRequest reads and checks one request frame.
func ReadRequest(r io.Reader) (Request, error) {
	var q Request
	if err := wire.Read(r, MaxRequest, &q); err != nil {
		return q, err
	}
	switch q.Op {
	case OpStatus, OpLightBlock, OpQuery, OpBroadcast, OpTx, OpEvidence:
	default:
		return q, fmt.Errorf("%w %q", errOp, q.Op)
	}
	if q.Height < 0 {
		return q, fmt.Errorf("negative height %d", q.Height)
	}
	return q, nil
}

// ReadResponse reads one answer frame.
func ReadResponse(r io.Reader) (Response, error) {
	var a Response
	err := wire.Read(r, MaxResponse, &a)
	return a, err
}

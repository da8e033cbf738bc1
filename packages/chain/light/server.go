package light

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	cmtproto "github.com/cometbft/cometbft/proto/tendermint/types"
	rpcclient "github.com/cometbft/cometbft/rpc/client"
	"github.com/cometbft/cometbft/types"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"

	"oepc.dev/oepcos/packages/wire"
)

// ServerTimeout bounds one stream on the super node side: reading the
// request, answering it from the local node and writing the answer.
const ServerTimeout = 20 * time.Second

// maxValidatorPages caps the validator set a light block carries
// (100 a page: 10,000 validators), as CometBFT's own provider does.
const maxValidatorPages = 100

// Server answers the light protocol from a super node's local validator.
type Server struct {
	// Client is the local node (rpc/client/local over the in-process node).
	Client rpcclient.Client
	Logger *slog.Logger
}

// Register serves the protocol on h.
func (s *Server) Register(h host.Host) { h.SetStreamHandler(Protocol, s.handle) }

func (s *Server) log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func (s *Server) handle(st network.Stream) {
	defer st.Close()
	defer func() {
		// A node library's panic on odd input must not take the super
		// node down: the stream is reset and the panic logged.
		if r := recover(); r != nil {
			s.log().Error("light request panicked", "peer", st.Conn().RemotePeer(), "panic", r)
			_ = st.Reset()
		}
	}()
	_ = st.SetDeadline(time.Now().Add(ServerTimeout))
	ctx, cancel := context.WithTimeout(context.Background(), ServerTimeout)
	defer cancel()
	q, err := ReadRequest(st)
	var a Response
	if err != nil {
		a = fail(ErrKindBad, err)
	} else {
		a = s.Answer(ctx, q)
	}
	if a.Error != "" {
		s.log().Debug("light request refused", "peer", st.Conn().RemotePeer(), "op", q.Op, "err", a.Error)
	}
	if err := wire.Write(st, a); err != nil {
		s.log().Debug("light answer not sent", "peer", st.Conn().RemotePeer(), "err", err)
		_ = st.Reset()
	}
}

func fail(kind string, err error) Response { return Response{Error: err.Error(), ErrorKind: kind} }

var (
	reMissingHeight = regexp.MustCompile(`height \d+ is not available`)
	reTooHigh       = regexp.MustCompile(`height \d+ must be less than or equal to`)
	reTxNotFound    = regexp.MustCompile(`tx \([0-9A-Fa-f]+\) not found`)
)

func classify(err error) Response {
	switch m := err.Error(); {
	case reTooHigh.MatchString(m):
		return fail(ErrKindTooHigh, err)
	case reMissingHeight.MatchString(m), reTxNotFound.MatchString(m):
		return fail(ErrKindNotFound, err)
	}
	return fail(ErrKindInternal, err)
}

// Answer answers one request from the local node.
func (s *Server) Answer(ctx context.Context, q Request) Response {
	c := s.Client
	switch q.Op {
	case OpStatus:
		st, err := c.Status(ctx)
		if err != nil {
			return classify(err)
		}
		return Response{ChainID: st.NodeInfo.Network, Latest: st.SyncInfo.LatestBlockHeight, LatestTime: st.SyncInfo.LatestBlockTime}
	case OpLightBlock:
		lb, err := s.lightBlock(ctx, q.Height)
		if err != nil {
			return classify(err)
		}
		pb, err := lb.ToProto()
		if err != nil {
			return fail(ErrKindInternal, err)
		}
		bz, err := pb.Marshal()
		if err != nil {
			return fail(ErrKindInternal, err)
		}
		return Response{LightBlock: bz}
	case OpQuery:
		r, err := c.ABCIQueryWithOptions(ctx, q.Path, q.Data, rpcclient.ABCIQueryOptions{Height: q.Height, Prove: true})
		if err != nil {
			return classify(err)
		}
		res := r.Response
		qa := &QueryAnswer{Code: res.Code, Log: res.Log, Key: res.Key, Value: res.Value, Height: res.Height}
		if res.ProofOps != nil {
			if qa.Proof, err = res.ProofOps.Marshal(); err != nil {
				return fail(ErrKindInternal, err)
			}
		}
		return Response{Query: qa}
	case OpBroadcast:
		r, err := c.BroadcastTxSync(ctx, q.Tx)
		if err != nil {
			return classify(err)
		}
		return Response{Check: &CheckAnswer{Code: r.Code, Codespace: r.Codespace, Log: r.Log, Hash: r.Hash}}
	case OpTx:
		r, err := c.Tx(ctx, q.Hash, true)
		if err != nil {
			return classify(err)
		}
		pb := r.Proof.ToProto()
		bz, err := pb.Marshal()
		if err != nil {
			return fail(ErrKindInternal, err)
		}
		res, rp, err := s.resultProof(ctx, r.Height, r.Index)
		if err != nil {
			return classify(err)
		}
		return Response{TxHeight: r.Height, TxProof: bz, TxResult: res, ResultProof: rp}
	case OpEvidence:
		var pe cmtproto.Evidence
		if err := pe.Unmarshal(q.Evidence); err != nil {
			return fail(ErrKindBad, err)
		}
		ev, err := types.EvidenceFromProto(&pe)
		if err != nil {
			return fail(ErrKindBad, err)
		}
		if _, err := c.BroadcastEvidence(ctx, ev); err != nil {
			return classify(err)
		}
		s.log().Warn("light client attack reported by a box", "evidence", ev.String())
		return Response{}
	}
	return fail(ErrKindBad, errOp)
}

func (s *Server) lightBlock(ctx context.Context, height int64) (*types.LightBlock, error) {
	var hp *int64
	if height > 0 {
		hp = &height
	}
	cm, err := s.Client.Commit(ctx, hp)
	if err != nil {
		return nil, err
	}
	if cm == nil || cm.IsEmpty() || cm.Header == nil || cm.Commit == nil {
		// No block yet (or not this one): a height the node has not reached.
		return nil, fmt.Errorf("height %d must be less than or equal to the current blockchain height", max(height, 1))
	}
	sh := cm.SignedHeader
	h := sh.Height
	var vals []*types.Validator
	per := 100
	for page := 1; page <= maxValidatorPages; page++ {
		r, err := s.Client.Validators(ctx, &h, &page, &per)
		if err != nil {
			return nil, err
		}
		vals = append(vals, r.Validators...)
		if len(vals) >= r.Total || len(r.Validators) == 0 {
			break
		}
	}
	vs, err := types.ValidatorSetFromExistingValidators(vals)
	if err != nil {
		return nil, err
	}
	return &types.LightBlock{SignedHeader: &sh, ValidatorSet: vs}, nil
}

package light

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cometbft/cometbft/light/provider"
	cmtproto "github.com/cometbft/cometbft/proto/tendermint/types"
	"github.com/cometbft/cometbft/types"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"oepc.dev/oepcos/packages/wire"
)

// CallTimeout bounds one request to a super node, dial included.
const CallTimeout = 15 * time.Second

// Provider is a light/provider.Provider that fetches light blocks from one
// super node over the light protocol.
type Provider struct {
	host    host.Host
	peer    peer.ID
	chainID string
}

var _ provider.Provider = (*Provider)(nil)

// NewProvider returns a provider of chainID's light blocks from p. The
// host must know p's addresses (Peerstore) or be able to find them.
func NewProvider(h host.Host, p peer.ID, chainID string) *Provider {
	return &Provider{host: h, peer: p, chainID: chainID}
}

// Peer is the super node.
func (p *Provider) Peer() peer.ID { return p.peer }

// ChainID implements provider.Provider.
func (p *Provider) ChainID() string { return p.chainID }

func (p *Provider) String() string { return "oe-light:" + p.peer.String() }

// call sends one request and reads its answer, with a deadline.
func (p *Provider) call(ctx context.Context, q Request) (Response, error) {
	ctx, cancel := context.WithTimeout(ctx, CallTimeout)
	defer cancel()
	st, err := p.host.NewStream(ctx, p.peer, Protocol)
	if err != nil {
		return Response{}, fmt.Errorf("super node %s: %w", p.peer, err)
	}
	defer st.Close()
	dl, _ := ctx.Deadline()
	_ = st.SetDeadline(dl)
	if err := wire.Write(st, q); err != nil {
		_ = st.Reset()
		return Response{}, fmt.Errorf("super node %s: %w", p.peer, err)
	}
	_ = st.CloseWrite()
	a, err := ReadResponse(st)
	if err != nil {
		_ = st.Reset()
		return Response{}, fmt.Errorf("super node %s: %s: %w", p.peer, q.Op, err)
	}
	return a, nil
}

// remoteError is a super node's refusal.
type remoteError struct {
	peer peer.ID
	op   string
	kind string
	msg  string
}

func (e *remoteError) Error() string {
	return fmt.Sprintf("super node %s refused %s (%s): %s", e.peer, e.op, e.kind, e.msg)
}

func (p *Provider) answer(a Response, op string) error {
	if a.Error == "" {
		return nil
	}
	return &remoteError{peer: p.peer, op: op, kind: a.ErrorKind, msg: a.Error}
}

// LightBlock implements provider.Provider: the signed header and validator
// set at height (0: the latest), checked for form (not yet for trust: the
// light client does that).
func (p *Provider) LightBlock(ctx context.Context, height int64) (*types.LightBlock, error) {
	if height < 0 {
		return nil, provider.ErrBadLightBlock{Reason: fmt.Errorf("negative height %d", height)}
	}
	a, err := p.call(ctx, Request{Op: OpLightBlock, Height: height})
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return nil, err
		}
		return nil, provider.ErrNoResponse
	}
	if a.Error != "" {
		switch a.ErrorKind {
		case ErrKindTooHigh:
			return nil, provider.ErrHeightTooHigh
		case ErrKindNotFound:
			return nil, provider.ErrLightBlockNotFound
		}
		return nil, p.answer(a, OpLightBlock)
	}
	lb, err := DecodeLightBlock(a.LightBlock)
	if err != nil {
		return nil, provider.ErrBadLightBlock{Reason: err}
	}
	if height != 0 && lb.Height != height {
		return nil, provider.ErrBadLightBlock{Reason: fmt.Errorf("asked for height %d, got %d", height, lb.Height)}
	}
	if err := lb.ValidateBasic(p.chainID); err != nil {
		return nil, provider.ErrBadLightBlock{Reason: err}
	}
	return lb, nil
}

// DecodeLightBlock parses a light block's protobuf form.
func DecodeLightBlock(b []byte) (*types.LightBlock, error) {
	if len(b) == 0 {
		return nil, errors.New("no light block")
	}
	var pb cmtproto.LightBlock
	if err := pb.Unmarshal(b); err != nil {
		return nil, fmt.Errorf("light block: %w", err)
	}
	lb, err := types.LightBlockFromProto(&pb)
	if err != nil {
		return nil, fmt.Errorf("light block: %w", err)
	}
	return lb, nil
}

// ReportEvidence implements provider.Provider: the super node passes the
// evidence of a light client attack to its validator.
func (p *Provider) ReportEvidence(ctx context.Context, ev types.Evidence) error {
	pe, err := types.EvidenceToProto(ev)
	if err != nil {
		return err
	}
	bz, err := pe.Marshal()
	if err != nil {
		return err
	}
	a, err := p.call(ctx, Request{Op: OpEvidence, Evidence: bz})
	if err != nil {
		return err
	}
	return p.answer(a, OpEvidence)
}

package light_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cometbft/cometbft/crypto"
	"github.com/cometbft/cometbft/privval"
	cmtcrypto "github.com/cometbft/cometbft/proto/tendermint/crypto"
	cmtproto "github.com/cometbft/cometbft/proto/tendermint/types"
	"github.com/cometbft/cometbft/rpc/client/local"
	"github.com/cometbft/cometbft/types"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"

	"oepc.dev/oepcos/packages/chain/app"
	"oepc.dev/oepcos/packages/chain/chaintest"
	"oepc.dev/oepcos/packages/chain/light"
	"oepc.dev/oepcos/packages/chain/node"
	"oepc.dev/oepcos/packages/chain/tx"
	"oepc.dev/oepcos/packages/cloud/keys"
	"oepc.dev/oepcos/packages/p2p/p2ptest"
	"oepc.dev/oepcos/packages/wire"
)

type world struct {
	net     *chaintest.Net
	gen     *types.GenesisDoc
	box     host.Host
	servers []*light.Server
	supers  []peer.ID
}

func connect(t *testing.T, box, sn host.Host) {
	box.Peerstore().AddAddrs(sn.ID(), sn.Addrs(), peerstore.PermanentAddrTTL)
	p2ptest.Connect(t, box, sn)
}

func setup(t *testing.T) *world {
	t.Helper()
	p := app.DefaultParams()
	p.MaxValidators = 4
	p.UnbondingBlocks = 100_000
	w := &world{net: chaintest.Start(t, chaintest.Options{Nodes: 4, Funded: 1, Params: p})}
	gen, err := types.GenesisDocFromFile(node.GenesisPath(w.net.Homes[0]))
	if err != nil {
		t.Fatal(err)
	}
	w.gen = gen
	w.box = p2ptest.Host(t)
	for i := range w.net.Nodes {
		sn := p2ptest.Host(t)
		s := &light.Server{Client: local.New(w.net.Nodes[i].CometBFT())}
		s.Register(sn)
		w.servers = append(w.servers, s)
		w.supers = append(w.supers, sn.ID())
		connect(t, w.box, sn)
	}
	return w
}

func (w *world) start(t *testing.T, ctx context.Context, dir string, supers []peer.ID, primary peer.ID) *light.Client {
	t.Helper()
	c, err := light.Start(ctx, light.Config{
		Host: w.box, SuperNodes: supers, Primary: primary, Dir: dir, Genesis: w.gen,
		TrustingPeriod: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// liar is a super node that answers from an honest server and then lies
// as lie says.
func liar(t *testing.T, w *world, s *light.Server, lie func(light.Request, *light.Response)) peer.ID {
	h := p2ptest.Host(t)
	h.SetStreamHandler(light.Protocol, func(st network.Stream) {
		defer st.Close()
		q, err := light.ReadRequest(st)
		if err != nil {
			st.Reset()
			return
		}
		a := s.Answer(context.Background(), q)
		lie(q, &a)
		wire.Write(st, a)
	})
	connect(t, w.box, h)
	return h.ID()
}

// recorder is an honest super node that records the evidence boxes send
// instead of passing it to its validator (CometBFT 0.38.25's evidence
// gossip races with its switch's Stop under -race; the evidence path to
// the validator is Server.Answer's own).
func recorder(t *testing.T, w *world, s *light.Server, got *atomic.Int32) peer.ID {
	h := p2ptest.Host(t)
	h.SetStreamHandler(light.Protocol, func(st network.Stream) {
		defer st.Close()
		q, err := light.ReadRequest(st)
		if err != nil {
			st.Reset()
			return
		}
		var a light.Response
		if q.Op == light.OpEvidence {
			var pe cmtproto.Evidence
			if pe.Unmarshal(q.Evidence) == nil {
				if _, err := types.EvidenceFromProto(&pe); err == nil {
					got.Add(1)
				}
			}
		} else {
			a = s.Answer(context.Background(), q)
		}
		wire.Write(st, a)
	})
	connect(t, w.box, h)
	return h.ID()
}

func TestLightNodeEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	t0 := time.Now()
	w := setup(t)
	t.Logf("setup %s", time.Since(t0))
	dir := filepath.Join(t.TempDir(), "oepcd")
	c := w.start(t, ctx, dir, w.supers[:3], "")

	t.Logf("started %s", time.Since(t0))
	st, err := c.Update(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("updated %s: %+v", time.Since(t0), st)
	if st.VerifiedHeight < 1 || len(st.Witnesses) != 2 || st.Primary == "" {
		t.Fatalf("status after update: %+v", st)
	}

	// The validator set, proven.
	vs, _, err := c.Validators(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 4 {
		t.Fatalf("proven validator set has %d members, want 4", len(vs))
	}
	cand, ok, _, err := c.Candidate(ctx, w.net.IDs[0].OperatorAddress())
	if err != nil || !ok || cand.Stake == 0 {
		t.Fatalf("candidate 0: %+v %v %v", cand, ok, err)
	}

	// The wallet, from the cloud's recovery phrase.
	owner := keys.New()
	secret, err := keys.ParsePhrase(owner.Phrase())
	if err != nil {
		t.Fatal(err)
	}
	wallet := light.WalletKey(keys.FromSecret(secret))
	if !wallet.Equal(light.WalletKey(owner)) {
		t.Fatal("the wallet key recovered from the phrase differs")
	}
	waddr := tx.AddressOf(wallet.Public().(ed25519.PublicKey))

	// Absence: the wallet is not funded yet.
	_, exists, _, err := c.Account(ctx, waddr)
	if err != nil || exists {
		t.Fatalf("unfunded wallet: exists %v, %v", exists, err)
	}

	// Fund it from the genesis account (signed and broadcast through the
	// light node), then the wallet sends on.
	funder := w.net.Funded[0]
	t.Logf("before send %s", time.Since(t0))
	if _, err := c.Send(ctx, funder, waddr, 5000, 1); err != nil {
		t.Fatal(err)
	}
	t.Logf("sent %s", time.Since(t0))
	acc, exists, _, err := c.Account(ctx, waddr)
	if err != nil || !exists || acc.Balance != 5000 {
		t.Fatalf("wallet after funding: %+v %v %v", acc, exists, err)
	}
	dest := tx.AddressOf(chaintest.Key(7).Public().(ed25519.PublicKey))
	sent, err := c.Send(ctx, wallet, dest, 1200, 3)
	if err != nil {
		t.Fatal(err)
	}
	if sent.Height < 2 || sent.Nonce != 0 {
		t.Fatalf("sent: %+v", sent)
	}
	acc, _, _, err = c.Account(ctx, waddr)
	if err != nil || acc.Balance != 5000-1200-3 || acc.Nonce != 1 {
		t.Fatalf("wallet after sending: %+v %v", acc, err)
	}
	if d, _, _, err := c.Account(ctx, dest); err != nil || d.Balance != 1200 {
		t.Fatalf("destination: %+v %v", d, err)
	}
	// A transaction CheckTx refuses (more than the balance) is a clear error.
	over := &tx.Tx{ChainID: c.ChainID(), Nonce: 1, Fee: 1, Msg: tx.Transfer{To: dest, Amount: 1 << 40}}
	over.Sign(wallet)
	raw, _ := over.Encode()
	var ce *light.CheckError
	if _, err := c.Broadcast(ctx, raw); !errors.As(err, &ce) || ce.Code == 0 {
		t.Fatalf("overspend: %v", err)
	}

	// The trusted store survives a restart: the new client starts at the
	// height the old one verified, from the store (no fetch of header 1).
	before, err := c.Update(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	c = w.start(t, ctx, dir, w.supers[1:], "")
	defer c.Close()
	after := c.Status(ctx)
	if after.VerifiedHeight < before.VerifiedHeight || !bytes.Equal(after.AppHash, before.AppHash) {
		t.Fatalf("after restart verified height %d (hash %X), before %d (%X)", after.VerifiedHeight, after.AppHash, before.VerifiedHeight, before.AppHash)
	}
	if _, _, _, err := c.Account(ctx, waddr); err != nil {
		t.Fatal(err)
	}
}

// balanceLie makes an account answer claim a bigger balance.
func balanceLie(q light.Request, a *light.Response) {
	if q.Op == light.OpQuery && q.Path == app.PathAccount && a.Query != nil && len(a.Query.Value) == 16 {
		v := bytes.Clone(a.Query.Value)
		binary.BigEndian.PutUint64(v, binary.BigEndian.Uint64(v)+1_000_000)
		a.Query.Value = v
	}
}

// absenceLie claims an account does not exist (keeping the proof).
func absenceLie(q light.Request, a *light.Response) {
	if q.Op == light.OpQuery && a.Query != nil {
		a.Query.Value = nil
	}
}

// proofLie swaps in the proof of another key.
func proofLie(other []byte) func(light.Request, *light.Response) {
	return func(q light.Request, a *light.Response) {
		if q.Op == light.OpQuery && a.Query != nil {
			a.Query.Proof = other
		}
	}
}

func TestLyingPrimary(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	w := setup(t)
	funded := tx.AddressOf(w.net.Funded[0].Public().(ed25519.PublicKey))

	// A proof of some other key, to swap in.
	w.net.WaitHeight(ctx, 0, 2)
	other := w.servers[0].Answer(ctx, light.Request{Op: light.OpQuery, Path: app.PathValidators})
	if other.Query == nil || len(other.Query.Proof) == 0 {
		t.Fatalf("validators query: %+v", other)
	}

	for name, lie := range map[string]func(light.Request, *light.Response){
		"balance": balanceLie,
		"absence": absenceLie,
		"proof":   proofLie(other.Query.Proof),
		"bytes":   flipLie,
	} {
		t.Run(name, func(t *testing.T) {
			bad := liar(t, w, w.servers[0], lie)
			c := w.start(t, ctx, t.TempDir(), []peer.ID{bad, w.supers[1], w.supers[2]}, bad)
			defer c.Close()
			_, _, _, err := c.Account(ctx, funded)
			if !errors.Is(err, light.ErrRefused) {
				t.Fatalf("a forged account value was not refused: %v", err)
			}
			t.Log(err)
		})
	}

	// A forged header, validly signed (the validators' keys sign a header
	// with another app hash: a lunatic attack). Skipping verification
	// accepts the signatures; the witnesses' headers differ, so the light
	// node refuses it.
	pvs := map[string]crypto.PrivKey{}
	for _, home := range w.net.Homes {
		pv := privval.LoadFilePVEmptyState(node.PrivValKeyPath(home), "")
		pvs[string(pv.Key.Address)] = pv.Key.PrivKey
	}
	var forgeAt atomic.Int64
	forgeAt.Store(1 << 40)
	bad := liar(t, w, w.servers[0], func(q light.Request, a *light.Response) {
		if q.Op != light.OpLightBlock || q.Height != forgeAt.Load() || a.LightBlock == nil {
			return
		}
		lb, err := light.DecodeLightBlock(a.LightBlock)
		if err != nil {
			t.Error(err)
			return
		}
		forged := forge(t, w.gen.ChainID, lb, pvs)
		pb, _ := forged.ToProto()
		a.LightBlock, _ = pb.Marshal()
	})
	var evidence atomic.Int32
	wits := []peer.ID{recorder(t, w, w.servers[1], &evidence), recorder(t, w, w.servers[2], &evidence)}
	c := w.start(t, ctx, t.TempDir(), []peer.ID{bad, wits[0], wits[1]}, bad)
	defer c.Close()
	st, err := c.Update(ctx)
	if err != nil {
		t.Fatal(err)
	}
	target := st.VerifiedHeight + 4
	forgeAt.Store(target)
	_, err = c.VerifiedHeader(ctx, target)
	if !errors.Is(err, light.ErrRefused) {
		t.Fatalf("a forged header was not refused: %v", err)
	}
	t.Log(err)
	if evidence.Load() == 0 {
		t.Fatal("the light node sent the witnesses no evidence of the attack")
	}
}

// flipLie flips one bit in the ICS23 proof's bytes.
func flipLie(q light.Request, a *light.Response) {
	if q.Op != light.OpQuery || a.Query == nil {
		return
	}
	var ops cmtcrypto.ProofOps
	if ops.Unmarshal(a.Query.Proof) != nil || len(ops.Ops) != 1 {
		return
	}
	d := bytes.Clone(ops.Ops[0].Data)
	d[len(d)/2] ^= 0x10
	ops.Ops[0].Data = d
	a.Query.Proof, _ = ops.Marshal()
}

// forge returns lb with another app hash, its commit signed again by the
// validators' keys.
func forge(t *testing.T, chainID string, lb *types.LightBlock, keys map[string]crypto.PrivKey) *types.LightBlock {
	h := *lb.Header
	h.AppHash = bytes.Repeat([]byte{0xAB}, 32)
	cm := *lb.Commit
	cm.BlockID = types.BlockID{Hash: h.Hash(), PartSetHeader: lb.Commit.BlockID.PartSetHeader}
	cm.Signatures = append([]types.CommitSig(nil), lb.Commit.Signatures...)
	for i, cs := range cm.Signatures {
		if cs.BlockIDFlag != types.BlockIDFlagCommit {
			continue
		}
		v := &types.Vote{Type: cmtproto.PrecommitType, Height: cm.Height, Round: cm.Round, BlockID: cm.BlockID,
			Timestamp: cs.Timestamp, ValidatorAddress: cs.ValidatorAddress, ValidatorIndex: int32(i)}
		sig, err := keys[string(cs.ValidatorAddress)].Sign(types.VoteSignBytes(chainID, v.ToProto()))
		if err != nil {
			t.Fatal(err)
		}
		cm.Signatures[i].Signature = sig
	}
	return &types.LightBlock{SignedHeader: &types.SignedHeader{Header: &h, Commit: &cm}, ValidatorSet: lb.ValidatorSet}
}

// A primary whose header is not signed (its app hash changed after the
// validators signed) is dropped; the header verified is the honest one.
func TestUnsignedHeaderFromPrimary(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w := setup(t)
	var forgeAt atomic.Int64
	forgeAt.Store(1 << 40)
	bad := liar(t, w, w.servers[0], func(q light.Request, a *light.Response) {
		if q.Op != light.OpLightBlock || q.Height != forgeAt.Load() || a.LightBlock == nil {
			return
		}
		lb, _ := light.DecodeLightBlock(a.LightBlock)
		lb.AppHash = bytes.Repeat([]byte{0xCD}, 32)
		pb, _ := lb.ToProto()
		a.LightBlock, _ = pb.Marshal()
	})
	c := w.start(t, ctx, t.TempDir(), []peer.ID{bad, w.supers[1], w.supers[2]}, bad)
	defer c.Close()
	st, err := c.Update(ctx)
	if err != nil {
		t.Fatal(err)
	}
	target := st.VerifiedHeight + 3
	forgeAt.Store(target)
	lb, err := c.VerifiedHeader(ctx, target)
	if err != nil {
		t.Fatalf("the honest witnesses' header was not taken: %v", err)
	}
	honest := w.servers[1].Answer(ctx, light.Request{Op: light.OpLightBlock, Height: target})
	hl, err := light.DecodeLightBlock(honest.LightBlock)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(lb.Hash(), hl.Hash()) {
		t.Fatalf("verified header %d is %X, the chain's is %X", target, lb.Hash(), hl.Hash())
	}
	if p := c.Status(ctx).Primary; p == bad {
		t.Fatal("the primary that sent an unsigned header is still the primary")
	}
}

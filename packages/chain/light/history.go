package light

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	cmtproto "github.com/cometbft/cometbft/proto/tendermint/types"

	"oepc.dev/oepcos/packages/chain/app"
	"oepc.dev/oepcos/packages/chain/tx"
)

// MaxHistory caps the entries one History call returns.
const MaxHistory = 100

// HistoryItem is one transaction of an account's history, verified: the
// entry (block, hash and result code) is a state value proven against the
// verified app hash, and the transaction's bytes hash to the proven hash.
type HistoryItem struct {
	Seq    uint64 `json:"seq"`
	Height int64  `json:"height"`
	Hash   string `json:"hash"`
	// Direction is "sent" (the account signed it) or "received".
	Direction string `json:"direction"`
	Type      string `json:"type"`
	From      string `json:"from"`
	To        string `json:"to,omitempty"` // transfers
	Amount    uint64 `json:"amount"`       // base units moved (transfer, delegation, stake)
	Fee       uint64 `json:"fee"`
	Nonce     uint64 `json:"nonce"`
	Code      uint32 `json:"code"` // 0: it succeeded
	Reason    string `json:"reason,omitempty"`
	// Proven is "state" (the entry proven in the account's history) or
	// "state+block" (also the transaction's inclusion against its
	// block's verified data hash, and its result against the next
	// header's results hash).
	Proven string `json:"proven"`
}

// HistoryOptions shape History.
type HistoryOptions struct {
	// Limit is how many of the newest entries (1..MaxHistory).
	Limit int
	// Blocks proves each transaction in its block too (inclusion and
	// result against verified headers). It costs a header verification
	// for each block not in the trusted store: older blocks are verified
	// backwards, one header at a time, from the nearest trusted one.
	Blocks bool
}

// History is an account's newest transactions, newest first, at most
// limit (1..MaxHistory) of them, and how many the account has in all. It
// reads one state height: the count and every entry are proven against
// the app hash of one verified header.
func (c *Client) History(ctx context.Context, a tx.Address, o HistoryOptions) (items []HistoryItem, total uint64, height int64, err error) {
	limit := min(max(o.Limit, 1), MaxHistory)
	qh, err := c.queryHeight(ctx)
	if err != nil {
		return nil, 0, 0, err
	}
	ck := app.HistoryCountKey(a)
	v, height, err := c.queryAt(ctx, app.PathStore, ck, ck, qh)
	if err != nil {
		return nil, 0, 0, err
	}
	if v != nil {
		if total, err = app.DecodeUint64(v); err != nil {
			return nil, 0, 0, fmt.Errorf("%w: proven history count: %v", ErrRefused, err)
		}
	}
	for seq := total; seq > 0 && len(items) < limit; seq-- {
		k := app.HistoryKey(a, seq-1)
		v, _, err := c.queryAt(ctx, app.PathStore, k, k, qh)
		if err != nil {
			return nil, 0, 0, err
		}
		if v == nil {
			return nil, 0, 0, fmt.Errorf("%w: history entry %d of %d proven absent", ErrRefused, seq-1, total)
		}
		e, err := app.DecodeHistoryEntry(v)
		if err != nil {
			return nil, 0, 0, fmt.Errorf("%w: proven history entry: %v", ErrRefused, err)
		}
		it, err := c.historyItem(ctx, a, seq-1, e)
		if err != nil {
			return nil, 0, 0, err
		}
		if o.Blocks {
			out, err := c.TxByHash(ctx, e.Hash[:])
			if err != nil {
				return nil, 0, 0, fmt.Errorf("history: transaction %X in its block: %w", e.Hash, err)
			}
			if out.Height != int64(e.Height) || out.Code != e.Code {
				return nil, 0, 0, fmt.Errorf("%w: transaction %X is proven in block %d with code %d, its history entry says block %d, code %d", ErrRefused, e.Hash, out.Height, out.Code, e.Height, e.Code)
			}
			it.Proven = "state+block"
		}
		items = append(items, it)
	}
	return items, total, height, nil
}

// historyItem fetches the transaction of a proven entry by its hash.
func (c *Client) historyItem(ctx context.Context, a tx.Address, seq uint64, e app.HistoryEntry) (HistoryItem, error) {
	p := c.primary()
	ans, err := p.call(ctx, Request{Op: OpTx, Hash: e.Hash[:]})
	if err != nil {
		return HistoryItem{}, err
	}
	if err := p.answer(ans, OpTx); err != nil {
		return HistoryItem{}, fmt.Errorf("history: transaction %X: %w", e.Hash, err)
	}
	raw, err := txData(ans.TxProof)
	if err != nil {
		return HistoryItem{}, fmt.Errorf("%w: history: %s: %v", ErrRefused, p.Peer(), err)
	}
	return itemOf(a, seq, e, raw)
}

// itemOf describes the transaction raw of the proven entry e.
func itemOf(a tx.Address, seq uint64, e app.HistoryEntry, raw []byte) (HistoryItem, error) {
	if h := hashOf(raw); h != e.Hash {
		return HistoryItem{}, fmt.Errorf("%w: history: the transaction sent for %X hashes to %X", ErrRefused, e.Hash, h)
	}
	t, err := tx.Decode(raw)
	if err != nil {
		return HistoryItem{}, fmt.Errorf("%w: history: transaction %X: %v", ErrRefused, e.Hash, err)
	}
	from := t.Sender()
	it := HistoryItem{Seq: seq, Height: int64(e.Height), Hash: hex.EncodeToString(e.Hash[:]), Direction: "sent",
		Type: t.Msg.Type().String(), From: from.String(), Fee: t.Fee, Nonce: t.Nonce, Code: e.Code, Proven: "state"}
	if from != a {
		it.Direction = "received"
	}
	switch m := t.Msg.(type) {
	case tx.Transfer:
		it.To, it.Amount = m.To.String(), m.Amount
		if from != a && m.To != a {
			return HistoryItem{}, fmt.Errorf("%w: history of %s holds a transfer between others", ErrRefused, a)
		}
	case tx.Delegate:
		it.To, it.Amount = m.Candidate.String(), m.Amount
	case tx.Undelegate:
		it.To, it.Amount = m.Candidate.String(), m.Amount
	case tx.RegisterCandidate:
		it.Amount = m.SelfStake
	}
	if e.Code != 0 {
		it.Reason = app.CodeText(e.Code)
	}
	return it, nil
}

func hashOf(raw []byte) [32]byte { return sha256.Sum256(raw) }

// txData is the transaction bytes of a tx proof.
func txData(proofBytes []byte) ([]byte, error) {
	var pb cmtproto.TxProof
	if err := pb.Unmarshal(proofBytes); err != nil {
		return nil, fmt.Errorf("tx proof: %v", err)
	}
	return pb.Data, nil
}

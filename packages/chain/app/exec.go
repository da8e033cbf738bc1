package app

import (
	"crypto/ed25519"
	"errors"
	"fmt"

	abci "github.com/cometbft/cometbft/abci/types"

	"oepc.dev/oepcos/packages/chain/tx"
)

// Codespace names this application's result codes.
const Codespace = "oechain"

// Result codes of CheckTx and of a transaction's execution. Each reason has
// its own code, so a wallet can say what went wrong.
const (
	CodeOK                uint32 = 0
	CodeMalformed         uint32 = 1  // not a decodable transaction
	CodeWrongChain        uint32 = 2  // signed for another chain
	CodeBadSignature      uint32 = 3  // signature does not verify
	CodeReplay            uint32 = 4  // nonce already used
	CodeFutureNonce       uint32 = 5  // nonce ahead of the account's next one
	CodeInsufficientFunds uint32 = 6  // balance below fee plus amount
	CodeFeeTooLow         uint32 = 7  // fee under the chain's minimum
	CodeInvalidMsg        uint32 = 8  // the message's fields are wrong (zero amount, ...)
	CodeUnknownCandidate  uint32 = 9  // no such candidate
	CodeCandidateExists   uint32 = 10 // already a candidate, or its validator key is taken
	CodeNoDelegation      uint32 = 11 // undelegating more than is delegated
	CodeStillJailed       uint32 = 12 // unjail before the jail time is over, or tombstoned
	CodeNotJailed         uint32 = 13 // unjail of a candidate that is not jailed
	CodeBadReceipt        uint32 = 14 // a receipt's signature, kind or epoch is wrong
	CodeDuplicateReceipt  uint32 = 15 // a receipt credited before
)

type txError struct {
	code uint32
	msg  string
}

func (e *txError) Error() string { return e.msg }

func fail(code uint32, format string, args ...any) error {
	return &txError{code: code, msg: fmt.Sprintf(format, args...)}
}

func codeOf(err error) uint32 {
	var te *txError
	if errors.As(err, &te) {
		return te.code
	}
	return CodeMalformed
}

// spend is what a message takes from the sender's balance besides the fee.
func spend(m tx.Msg) uint64 {
	switch m := m.(type) {
	case tx.Transfer:
		return m.Amount
	case tx.Delegate:
		return m.Amount
	case tx.RegisterCandidate:
		return m.SelfStake
	}
	return 0
}

// checkStateless are the checks that need no state.
func checkStateless(m tx.Msg, sender tx.Address) error {
	switch m := m.(type) {
	case tx.Transfer:
		if m.Amount == 0 {
			return fail(CodeInvalidMsg, "transfer of 0")
		}
		if m.To == sender {
			return fail(CodeInvalidMsg, "transfer to oneself")
		}
	case tx.Delegate:
		if m.Amount == 0 {
			return fail(CodeInvalidMsg, "delegation of 0")
		}
	case tx.Undelegate:
		if m.Amount == 0 {
			return fail(CodeInvalidMsg, "undelegation of 0")
		}
	case tx.RegisterCandidate:
		if m.Moniker == "" {
			return fail(CodeInvalidMsg, "candidate without a moniker")
		}
	}
	return nil
}

// ante decodes and authenticates raw against acc (the sender's account as
// the caller sees it) and returns the transaction and the total it spends.
func ante(raw []byte, chainID string, p Params, lookup func(tx.Address) Account) (*tx.Tx, uint64, error) {
	t, err := tx.Decode(raw)
	if err != nil {
		return nil, 0, fail(CodeMalformed, "%v", err)
	}
	if t.ChainID != chainID {
		return nil, 0, fail(CodeWrongChain, "transaction for chain %q; this is %q", t.ChainID, chainID)
	}
	if err := t.Verify(); err != nil {
		return nil, 0, fail(CodeBadSignature, "signature does not verify for key %x", []byte(t.PubKey))
	}
	if t.Fee < p.MinFee {
		return nil, 0, fail(CodeFeeTooLow, "fee %d under the minimum %d", t.Fee, p.MinFee)
	}
	acc := lookup(t.Sender())
	switch {
	case t.Nonce < acc.Nonce:
		return nil, 0, fail(CodeReplay, "nonce %d already used (next is %d)", t.Nonce, acc.Nonce)
	case t.Nonce > acc.Nonce:
		return nil, 0, fail(CodeFutureNonce, "nonce %d ahead of the next one, %d", t.Nonce, acc.Nonce)
	}
	if err := checkStateless(t.Msg, t.Sender()); err != nil {
		return nil, 0, err
	}
	total, ok := add(t.Fee, spend(t.Msg))
	if !ok || acc.Balance < total {
		return nil, 0, fail(CodeInsufficientFunds, "balance %d is less than fee %d plus amount %d", acc.Balance, t.Fee, spend(t.Msg))
	}
	return t, total, nil
}

// deliver executes one transaction of block h. A transaction that passes the
// ante checks pays its fee and uses its nonce even if its message fails; the
// message's effects are all or nothing (every check comes before any write).
func (a *App) deliver(s store, p Params, h uint64, raw []byte) (*abci.ExecTxResult, uint64) {
	t, _, err := ante(raw, a.chainID, p, s.account)
	if err != nil {
		return &abci.ExecTxResult{Code: codeOf(err), Codespace: Codespace, Log: err.Error()}, 0
	}
	sender := t.Sender()
	acc := s.account(sender)
	acc.Balance -= t.Fee
	acc.Nonce++
	s.setAccount(sender, acc)
	events, err := a.execMsg(s, p, h, t, sender)
	recordHistory(s, h, raw, t, sender, err)
	if err != nil {
		return &abci.ExecTxResult{Code: codeOf(err), Codespace: Codespace, Log: err.Error()}, t.Fee
	}
	ev := abci.Event{Type: "oechain.tx", Attributes: []abci.EventAttribute{
		{Key: "sender", Value: sender.String(), Index: true},
		{Key: "type", Value: t.Msg.Type().String(), Index: true},
	}}
	return &abci.ExecTxResult{Code: CodeOK, Events: append([]abci.Event{ev}, events...)}, t.Fee
}

func (a *App) execMsg(s store, p Params, h uint64, t *tx.Tx, sender tx.Address) ([]abci.Event, error) {
	switch m := t.Msg.(type) {
	case tx.Transfer:
		from := s.account(sender)
		to := s.account(m.To)
		nb, ok := add(to.Balance, m.Amount)
		if !ok {
			return nil, fail(CodeInvalidMsg, "recipient balance would overflow")
		}
		from.Balance -= m.Amount
		to.Balance = nb
		s.setAccount(sender, from)
		s.setAccount(m.To, to)
		return []abci.Event{{Type: "oechain.transfer", Attributes: []abci.EventAttribute{
			{Key: "to", Value: m.To.String(), Index: true},
			{Key: "amount", Value: fmt.Sprint(m.Amount)},
		}}}, nil

	case tx.RegisterCandidate:
		if _, ok := s.candidate(sender); ok {
			return nil, fail(CodeCandidateExists, "%s is a candidate already", sender)
		}
		consAddr := tx.AddressOf(m.ConsPubKey)
		if _, ok := s.operatorOf(consAddr[:]); ok {
			return nil, fail(CodeCandidateExists, "validator key %x belongs to another candidate", []byte(m.ConsPubKey))
		}
		acc := s.account(sender)
		acc.Balance -= m.SelfStake
		s.setAccount(sender, acc)
		s.setCandidate(Candidate{Operator: sender, ConsPubKey: m.ConsPubKey, Moniker: m.Moniker, Stake: m.SelfStake})
		s.setUint(DelegationKey(sender, sender), m.SelfStake)
		s.set(append([]byte(prefixConsIndex), consAddr[:]...), sender[:])
		return []abci.Event{{Type: "oechain.candidate", Attributes: []abci.EventAttribute{
			{Key: "operator", Value: sender.String(), Index: true},
		}}}, nil

	case tx.Delegate:
		c, ok := s.candidate(m.Candidate)
		if !ok {
			return nil, fail(CodeUnknownCandidate, "no candidate %s", m.Candidate)
		}
		if c.Tombstoned {
			return nil, fail(CodeStillJailed, "candidate %s double-signed and is jailed for good", m.Candidate)
		}
		stake, ok := add(c.Stake, m.Amount)
		if !ok {
			return nil, fail(CodeInvalidMsg, "stake would overflow")
		}
		acc := s.account(sender)
		acc.Balance -= m.Amount
		s.setAccount(sender, acc)
		k := DelegationKey(m.Candidate, sender)
		s.setUint(k, s.uint(k)+m.Amount)
		c.Stake = stake
		s.setCandidate(c)
		return nil, nil

	case tx.Undelegate:
		c, ok := s.candidate(m.Candidate)
		if !ok {
			return nil, fail(CodeUnknownCandidate, "no candidate %s", m.Candidate)
		}
		k := DelegationKey(m.Candidate, sender)
		d := s.uint(k)
		if d < m.Amount {
			return nil, fail(CodeNoDelegation, "undelegating %d of a delegation of %d", m.Amount, d)
		}
		s.setUint(k, d-m.Amount)
		c.Stake -= m.Amount
		s.setCandidate(c)
		done := h + p.UnbondingBlocks
		s.setUint(unbondingKey(done, sender, m.Candidate, t.Nonce), m.Amount)
		return []abci.Event{{Type: "oechain.unbond", Attributes: []abci.EventAttribute{
			{Key: "candidate", Value: m.Candidate.String(), Index: true},
			{Key: "amount", Value: fmt.Sprint(m.Amount)},
			{Key: "completes_at", Value: fmt.Sprint(done)},
		}}}, nil

	case tx.Unjail:
		c, ok := s.candidate(sender)
		if !ok {
			return nil, fail(CodeUnknownCandidate, "%s is not a candidate", sender)
		}
		if !c.Jailed {
			return nil, fail(CodeNotJailed, "candidate %s is not jailed", sender)
		}
		if c.Tombstoned {
			return nil, fail(CodeStillJailed, "candidate %s double-signed and is jailed for good", sender)
		}
		if h < c.JailedUntil {
			return nil, fail(CodeStillJailed, "candidate %s is jailed until height %d (now %d)", sender, c.JailedUntil, h)
		}
		c.Jailed = false
		s.setCandidate(c)
		return nil, nil // it stands again at the next epoch's election

	case tx.Credit:
		return nil, a.credit(s, p, h, m)
	}
	return nil, fail(CodeMalformed, "unhandled message %s", t.Msg.Type())
}

// CreditKinds are the receipt kinds the chain credits.
var CreditKinds = map[uint16]bool{tx.KindRelayBytes: true, tx.KindShardBytes: true, tx.KindMinedShares: true}

// credit records each receipt's units for its provider in its epoch. A
// receipt may be for this epoch or the one before (it is signed before it
// reaches a block); each is credited once.
func (a *App) credit(s store, p Params, h uint64, m tx.Credit) error {
	cur := Epoch(h, p.EpochLength)
	seen := map[string]bool{}
	pending := map[string]uint64{}
	for i := range m.Receipts {
		r := &m.Receipts[i]
		if !CreditKinds[r.Kind] {
			return fail(CodeBadReceipt, "receipt %d: unknown kind %d", i, r.Kind)
		}
		if r.Epoch != cur && r.Epoch+1 != cur {
			return fail(CodeBadReceipt, "receipt %d: for epoch %d; this is epoch %d", i, r.Epoch, cur)
		}
		if r.Units == 0 || r.Provider.IsZero() {
			return fail(CodeBadReceipt, "receipt %d: no units or no provider", i)
		}
		if err := r.Verify(a.chainID); err != nil {
			return fail(CodeBadReceipt, "receipt %d: %v", i, err)
		}
		consumer := tx.AddressOf(ed25519.PublicKey(r.Consumer))
		if consumer == r.Provider {
			return fail(CodeBadReceipt, "receipt %d: a provider cannot sign its own receipt", i)
		}
		rk := receiptKey(consumer, r.ID)
		if seen[string(rk)] || s.get(rk) != nil {
			return fail(CodeDuplicateReceipt, "receipt %d: %s's receipt %d was credited before", i, consumer, r.ID)
		}
		seen[string(rk)] = true
		ck := CreditKey(r.Epoch, r.Provider, r.Kind)
		have, ok := pending[string(ck)]
		if !ok {
			have = s.uint(ck)
		}
		if pending[string(ck)], ok = add(have, r.Units); !ok {
			return fail(CodeBadReceipt, "receipt %d: credit would overflow", i)
		}
	}
	for i := range m.Receipts {
		r := &m.Receipts[i]
		consumer := tx.AddressOf(ed25519.PublicKey(r.Consumer))
		s.set(receiptKey(consumer, r.ID), u64(r.Epoch))
		k := CreditKey(r.Epoch, r.Provider, r.Kind)
		s.setUint(k, s.uint(k)+r.Units)
	}
	return nil
}

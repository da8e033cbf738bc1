package app

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cosmos/iavl"

	"oepc.dev/oepcos/packages/chain/tx"
)

// Store keys. Every value lives in the one IAVL tree whose root is the app
// hash, so each has an ICS23 proof. Numbers in keys are big-endian so that
// the tree's key order is their numeric order.
const (
	prefixAccount    = "acct/"     // + address → Account
	prefixCandidate  = "cand/"     // + operator → Candidate
	prefixDelegation = "dlg/"      // + candidate + delegator → uint64
	prefixUnbonding  = "unb/"      // + completion height(8) + delegator + candidate + nonce(8) → uint64
	prefixConsIndex  = "cons/"     // + validator (consensus) address → operator
	prefixSignInfo   = "sign/"     // + operator → SignInfo
	prefixSignBits   = "signbits/" // + operator → the downtime window's missed-block bitmap
	prefixCredit     = "credit/"   // + epoch(8) + provider + kind(2) → uint64 units
	prefixReceipt    = "rcpt/"     // + consumer address + id(8) → epoch(8)
	keyValidators    = "vals"      // → the validator set the chain elected last
	keyParams        = "params"    // → Params
	keySupply        = "supply"    // → uint64 coins in existence
)

// AccountKey and the functions below it name state keys, for queries.
func AccountKey(a tx.Address) []byte   { return append([]byte(prefixAccount), a[:]...) }
func CandidateKey(a tx.Address) []byte { return append([]byte(prefixCandidate), a[:]...) }
func DelegationKey(cand, del tx.Address) []byte {
	return append(append([]byte(prefixDelegation), cand[:]...), del[:]...)
}
func ValidatorsKey() []byte { return []byte(keyValidators) }
func CreditKey(epoch uint64, provider tx.Address, kind uint16) []byte {
	k := binary.BigEndian.AppendUint64([]byte(prefixCredit), epoch)
	k = append(k, provider[:]...)
	return binary.BigEndian.AppendUint16(k, kind)
}
func receiptKey(consumer tx.Address, id uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(prefixReceipt), consumer[:]...), id)
}
func unbondingKey(done uint64, del, cand tx.Address, nonce uint64) []byte {
	k := binary.BigEndian.AppendUint64([]byte(prefixUnbonding), done)
	k = append(append(k, del[:]...), cand[:]...)
	return binary.BigEndian.AppendUint64(k, nonce)
}

// Account is an account's state.
type Account struct {
	Balance uint64
	Nonce   uint64 // the nonce its next transaction must carry
}

// Candidate is a super-node candidate.
type Candidate struct {
	Operator    tx.Address
	ConsPubKey  ed25519.PublicKey
	Moniker     string
	Stake       uint64 // delegated to it, its operator's own included
	Jailed      bool
	Tombstoned  bool   // double-signed: jailed for good
	JailedUntil uint64 // height from which Unjail is accepted
}

// Validator is one member of the elected set.
type Validator struct {
	Operator   tx.Address
	ConsPubKey ed25519.PublicKey
	Power      int64
}

// SignInfo counts a validator's missed blocks in the sliding window of the
// last DowntimeWindow blocks it was asked to sign (its bitmap, one bit per
// block of the window, is under prefixSignBits).
type SignInfo struct {
	Seen   uint64 // blocks counted since the window was last cleared
	Missed uint64 // of the last min(Seen, DowntimeWindow), those missed
}

// Encodings of state values: fixed-width big-endian, strings with a uvarint
// length. Decoders are strict: what is stored is only what encoders wrote.

func (a Account) encode() []byte {
	b := binary.BigEndian.AppendUint64(nil, a.Balance)
	return binary.BigEndian.AppendUint64(b, a.Nonce)
}

// DecodeAccount parses a stored account (what an account query returns).
func DecodeAccount(b []byte) (Account, error) {
	if len(b) != 16 {
		return Account{}, fmt.Errorf("account value of %d bytes", len(b))
	}
	return Account{Balance: binary.BigEndian.Uint64(b), Nonce: binary.BigEndian.Uint64(b[8:])}, nil
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

func (c Candidate) encode() []byte {
	b := append([]byte{}, c.Operator[:]...)
	b = append(b, c.ConsPubKey...)
	b = binary.AppendUvarint(b, uint64(len(c.Moniker)))
	b = append(b, c.Moniker...)
	b = binary.BigEndian.AppendUint64(b, c.Stake)
	b = append(b, boolByte(c.Jailed), boolByte(c.Tombstoned))
	return binary.BigEndian.AppendUint64(b, c.JailedUntil)
}

var errBadValue = errors.New("malformed stored value")

// DecodeCandidate parses a stored candidate.
func DecodeCandidate(b []byte) (Candidate, error) {
	var c Candidate
	if len(b) < 20+32+1 {
		return c, errBadValue
	}
	copy(c.Operator[:], b)
	c.ConsPubKey = ed25519.PublicKey(append([]byte{}, b[20:52]...))
	b = b[52:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > tx.MaxMonikerLen || uint64(len(b)-k) != n+8+2+8 {
		return c, errBadValue
	}
	b = b[k:]
	c.Moniker = string(b[:n])
	b = b[n:]
	c.Stake = binary.BigEndian.Uint64(b)
	c.Jailed, c.Tombstoned = b[8] == 1, b[9] == 1
	c.JailedUntil = binary.BigEndian.Uint64(b[10:])
	return c, nil
}

func encodeValidators(vs []Validator) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(len(vs)))
	for _, v := range vs {
		b = append(b, v.Operator[:]...)
		b = append(b, v.ConsPubKey...)
		b = binary.BigEndian.AppendUint64(b, uint64(v.Power))
	}
	return b
}

// DecodeValidators parses the stored validator set.
func DecodeValidators(b []byte) ([]Validator, error) {
	const each = 20 + 32 + 8
	if len(b) < 2 {
		return nil, errBadValue
	}
	n := int(binary.BigEndian.Uint16(b))
	b = b[2:]
	if len(b) != n*each {
		return nil, errBadValue
	}
	vs := make([]Validator, n)
	for i := range vs {
		e := b[i*each:]
		copy(vs[i].Operator[:], e)
		vs[i].ConsPubKey = ed25519.PublicKey(append([]byte{}, e[20:52]...))
		vs[i].Power = int64(binary.BigEndian.Uint64(e[52:]))
	}
	return vs, nil
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// DecodeUint64 parses a stored counter (a delegation, a credit, the supply).
func DecodeUint64(b []byte) (uint64, error) {
	if len(b) != 8 {
		return 0, errBadValue
	}
	return binary.BigEndian.Uint64(b), nil
}

// store is typed access to the working tree. A storage error is a broken
// node, not a bad transaction: it panics, and CometBFT stops the node.
type store struct{ t *iavl.MutableTree }

func (s store) get(k []byte) []byte {
	v, err := s.t.Get(k)
	if err != nil {
		panic(fmt.Errorf("chain state: get: %w", err))
	}
	return v
}

func (s store) set(k, v []byte) {
	if _, err := s.t.Set(k, v); err != nil {
		panic(fmt.Errorf("chain state: set: %w", err))
	}
}

func (s store) del(k []byte) {
	if _, _, err := s.t.Remove(k); err != nil {
		panic(fmt.Errorf("chain state: remove: %w", err))
	}
}

// each calls fn for every key with prefix p, in key order. fn must not write
// to the tree; collect first, write after.
func (s store) each(p string, fn func(k, v []byte)) {
	end := []byte(p)
	end[len(end)-1]++
	it, err := s.t.Iterator([]byte(p), end, true)
	if err != nil {
		panic(fmt.Errorf("chain state: iterate: %w", err))
	}
	defer it.Close()
	for ; it.Valid(); it.Next() {
		fn(append([]byte{}, it.Key()...), append([]byte{}, it.Value()...))
	}
}

func (s store) account(a tx.Address) Account {
	v := s.get(AccountKey(a))
	if v == nil {
		return Account{}
	}
	acc, err := DecodeAccount(v)
	if err != nil {
		panic(err)
	}
	return acc
}

func (s store) setAccount(a tx.Address, acc Account) {
	if acc == (Account{}) {
		s.del(AccountKey(a))
		return
	}
	s.set(AccountKey(a), acc.encode())
}

func (s store) candidate(op tx.Address) (Candidate, bool) {
	v := s.get(CandidateKey(op))
	if v == nil {
		return Candidate{}, false
	}
	c, err := DecodeCandidate(v)
	if err != nil {
		panic(err)
	}
	return c, true
}

func (s store) setCandidate(c Candidate) { s.set(CandidateKey(c.Operator), c.encode()) }

func (s store) uint(k []byte) uint64 {
	v := s.get(k)
	if v == nil {
		return 0
	}
	n, err := DecodeUint64(v)
	if err != nil {
		panic(err)
	}
	return n
}

func (s store) setUint(k []byte, n uint64) {
	if n == 0 {
		s.del(k)
		return
	}
	s.set(k, u64(n))
}

func (s store) validators() []Validator {
	v := s.get([]byte(keyValidators))
	if v == nil {
		return nil
	}
	vs, err := DecodeValidators(v)
	if err != nil {
		panic(err)
	}
	return vs
}

func (s store) operatorOf(consAddr []byte) (tx.Address, bool) {
	v := s.get(append([]byte(prefixConsIndex), consAddr...))
	var op tx.Address
	if len(v) != tx.AddressLen {
		return op, false
	}
	copy(op[:], v)
	return op, true
}

func (s store) signInfo(op tx.Address) SignInfo {
	v := s.get(append([]byte(prefixSignInfo), op[:]...))
	if len(v) != 16 {
		return SignInfo{}
	}
	return SignInfo{Seen: binary.BigEndian.Uint64(v), Missed: binary.BigEndian.Uint64(v[8:])}
}

func (s store) setSignInfo(op tx.Address, si SignInfo) {
	s.set(append([]byte(prefixSignInfo), op[:]...), append(u64(si.Seen), u64(si.Missed)...))
}

// signBits is a validator's missed-block bitmap of a window of w blocks.
func (s store) signBits(op tx.Address, w uint64) []byte {
	v := s.get(append([]byte(prefixSignBits), op[:]...))
	if uint64(len(v)) != (w+7)/8 {
		return make([]byte, (w+7)/8)
	}
	return append([]byte{}, v...)
}

func (s store) setSignBits(op tx.Address, b []byte) {
	s.set(append([]byte(prefixSignBits), op[:]...), b)
}

// clearSignInfo starts a validator's downtime window afresh.
func (s store) clearSignInfo(op tx.Address) {
	s.setSignInfo(op, SignInfo{})
	s.del(append([]byte(prefixSignBits), op[:]...))
}

func (s store) params() Params {
	p, err := decodeParams(s.get([]byte(keyParams)))
	if err != nil {
		panic(err)
	}
	return p
}

// add returns a+b, or false when it overflows.
func add(a, b uint64) (uint64, bool) {
	c := a + b
	return c, c >= a
}

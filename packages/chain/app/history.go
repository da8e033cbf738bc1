package app

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"oepc.dev/oepcos/packages/chain/tx"
)

// An account's history: every transaction it sent that reached a block
// (failed ones too: they paid their fee and used their nonce), and every
// transfer it received, in order, in the state tree, so that a light node
// gets the list itself with proofs: the count and each entry are values
// with ICS23 proofs against the app hash (query path /store with the keys
// below).
const (
	prefixHistory      = "hist/"  // + address + seq(8) → HistoryEntry
	prefixHistoryCount = "histn/" // + address → uint64 entries
)

// HistoryCountKey is the key of an account's number of history entries.
func HistoryCountKey(a tx.Address) []byte { return append([]byte(prefixHistoryCount), a[:]...) }

// HistoryKey is the key of an account's entry seq (0 the oldest).
func HistoryKey(a tx.Address, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(prefixHistory), a[:]...), seq)
}

// HistoryEntry is one transaction of an account's history.
type HistoryEntry struct {
	Height uint64   // its block
	Hash   [32]byte // the transaction's hash (SHA-256 of its bytes)
	Code   uint32   // its result: CodeOK or why its message failed
}

const historyEntryLen = 8 + 32 + 4

func (e HistoryEntry) encode() []byte {
	b := binary.BigEndian.AppendUint64(nil, e.Height)
	b = append(b, e.Hash[:]...)
	return binary.BigEndian.AppendUint32(b, e.Code)
}

// DecodeHistoryEntry parses a stored history entry.
func DecodeHistoryEntry(b []byte) (HistoryEntry, error) {
	var e HistoryEntry
	if len(b) != historyEntryLen {
		return e, fmt.Errorf("history entry of %d bytes: %w", len(b), errBadValue)
	}
	e.Height = binary.BigEndian.Uint64(b)
	copy(e.Hash[:], b[8:])
	e.Code = binary.BigEndian.Uint32(b[40:])
	return e, nil
}

func (s store) appendHistory(a tx.Address, e HistoryEntry) {
	k := HistoryCountKey(a)
	n := s.uint(k)
	s.set(HistoryKey(a, n), e.encode())
	s.setUint(k, n+1)
}

// recordHistory adds a delivered transaction (past its ante checks) to
// its sender's history, and a successful transfer to its recipient's.
func recordHistory(s store, h uint64, raw []byte, t *tx.Tx, sender tx.Address, failed error) {
	code := CodeOK
	if failed != nil {
		code = codeOf(failed)
	}
	e := HistoryEntry{Height: h, Hash: sha256.Sum256(raw), Code: code}
	s.appendHistory(sender, e)
	if m, ok := t.Msg.(tx.Transfer); ok && code == CodeOK {
		s.appendHistory(m.To, e)
	}
}

// ParamsKey is the state key of the chain's parameters.
func ParamsKey() []byte { return []byte(keyParams) }

// DecodeParams parses the stored parameters.
func DecodeParams(b []byte) (Params, error) { return decodeParams(b) }

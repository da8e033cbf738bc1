package tx

import (
	"crypto/ed25519"
	"errors"
	"fmt"
)

// MsgType names a message on the wire. Values are never reused.
type MsgType uint8

// The message types.
const (
	TypeTransfer          MsgType = 1
	TypeRegisterCandidate MsgType = 2
	TypeDelegate          MsgType = 3
	TypeUndelegate        MsgType = 4
	TypeUnjail            MsgType = 5
	TypeCredit            MsgType = 6
)

func (t MsgType) String() string {
	switch t {
	case TypeTransfer:
		return "transfer"
	case TypeRegisterCandidate:
		return "register-candidate"
	case TypeDelegate:
		return "delegate"
	case TypeUndelegate:
		return "undelegate"
	case TypeUnjail:
		return "unjail"
	case TypeCredit:
		return "credit"
	}
	return fmt.Sprintf("type-%d", uint8(t))
}

// Msg is one of the message types below.
type Msg interface {
	Type() MsgType
	encode(w *writer)
}

// Transfer moves Amount base units from the sender to To.
type Transfer struct {
	To     Address
	Amount uint64
}

// RegisterCandidate makes the sender (a CDN operator) a super-node candidate
// whose validator signs with ConsPubKey, staking SelfStake of its own.
type RegisterCandidate struct {
	ConsPubKey ed25519.PublicKey
	Moniker    string
	SelfStake  uint64
}

// MaxMonikerLen bounds a candidate's name.
const MaxMonikerLen = 64

// Delegate bonds Amount of the sender's coins to Candidate (an operator
// address).
type Delegate struct {
	Candidate Address
	Amount    uint64
}

// Undelegate starts unbonding Amount from Candidate; the coins return after
// the chain's unbonding delay.
type Undelegate struct {
	Candidate Address
	Amount    uint64
}

// Unjail asks that the sender's jailed candidate be eligible again, once its
// jail time is over.
type Unjail struct{}

// Credit carries signed receipts for work done (relayed bytes, served shards,
// mined shares, ...); each credits its Provider for its epoch.
type Credit struct {
	Receipts []Receipt
}

// MaxReceipts bounds the receipts of one Credit.
const MaxReceipts = 64

// Receipt kinds. The set is open: later issues add kinds (and the chain's
// list of kinds it accepts) without a new message type.
const (
	KindRelayBytes  uint16 = 1 // bytes relayed for the consumer
	KindShardBytes  uint16 = 2 // shard bytes served to the consumer
	KindMinedShares uint16 = 3 // pool shares (the coordinator signs)
)

// MaxMemoLen bounds a receipt's memo (e.g. a shard ID or a session ID).
const MaxMemoLen = 256

// ReceiptDomain separates receipt signatures from others.
const ReceiptDomain = "oechain/receipt/v1\x00"

// Receipt says, signed by Consumer, that Provider did Units of Kind of work
// for it in Epoch. ID is the consumer's own counter: each (Consumer, ID) is
// credited once.
type Receipt struct {
	Kind     uint16
	Epoch    uint64
	Provider Address
	Units    uint64
	ID       uint64
	Memo     []byte
	Consumer ed25519.PublicKey
	Sig      []byte
}

func (r *Receipt) encodeUnsigned(w *writer) {
	w.u16(r.Kind)
	w.u64(r.Epoch)
	w.raw(r.Provider[:])
	w.u64(r.Units)
	w.u64(r.ID)
	w.bytes(r.Memo)
	w.raw(r.Consumer)
}

// SignBytes is what the consumer signs; chainID binds it to one chain.
func (r *Receipt) SignBytes(chainID string) []byte {
	w := writer{b: []byte(ReceiptDomain)}
	w.bytes([]byte(chainID))
	r.encodeUnsigned(&w)
	return w.b
}

// Sign signs the receipt as its consumer.
func (r *Receipt) Sign(chainID string, key ed25519.PrivateKey) {
	r.Consumer = key.Public().(ed25519.PublicKey)
	r.Sig = ed25519.Sign(key, r.SignBytes(chainID))
}

// Verify checks the consumer's signature.
func (r *Receipt) Verify(chainID string) error {
	if len(r.Consumer) != ed25519.PublicKeySize || len(r.Sig) != ed25519.SignatureSize ||
		!ed25519.Verify(r.Consumer, r.SignBytes(chainID), r.Sig) {
		return errors.New("receipt: bad consumer signature")
	}
	return nil
}

func (Transfer) Type() MsgType          { return TypeTransfer }
func (RegisterCandidate) Type() MsgType { return TypeRegisterCandidate }
func (Delegate) Type() MsgType          { return TypeDelegate }
func (Undelegate) Type() MsgType        { return TypeUndelegate }
func (Unjail) Type() MsgType            { return TypeUnjail }
func (Credit) Type() MsgType            { return TypeCredit }

func (m Transfer) encode(w *writer) { w.raw(m.To[:]); w.u64(m.Amount) }
func (m RegisterCandidate) encode(w *writer) {
	w.raw(m.ConsPubKey)
	w.bytes([]byte(m.Moniker))
	w.u64(m.SelfStake)
}
func (m Delegate) encode(w *writer)   { w.raw(m.Candidate[:]); w.u64(m.Amount) }
func (m Undelegate) encode(w *writer) { w.raw(m.Candidate[:]); w.u64(m.Amount) }
func (Unjail) encode(*writer)         {}
func (m Credit) encode(w *writer) {
	w.u8(uint8(len(m.Receipts)))
	for i := range m.Receipts {
		m.Receipts[i].encodeUnsigned(w)
		w.raw(m.Receipts[i].Sig)
	}
}

func decodeMsg(t MsgType, b []byte) (Msg, error) {
	r := reader{b: b}
	var m Msg
	switch t {
	case TypeTransfer:
		m = Transfer{To: r.addr(), Amount: r.u64()}
	case TypeRegisterCandidate:
		pk := make(ed25519.PublicKey, ed25519.PublicKeySize)
		r.raw(pk)
		name := r.bytes(MaxMonikerLen)
		m = RegisterCandidate{ConsPubKey: pk, Moniker: string(name), SelfStake: r.u64()}
	case TypeDelegate:
		m = Delegate{Candidate: r.addr(), Amount: r.u64()}
	case TypeUndelegate:
		m = Undelegate{Candidate: r.addr(), Amount: r.u64()}
	case TypeUnjail:
		m = Unjail{}
	case TypeCredit:
		n := int(r.u8())
		if n == 0 || n > MaxReceipts {
			return nil, fmt.Errorf("credit with %d receipts (want 1..%d)", n, MaxReceipts)
		}
		c := Credit{Receipts: make([]Receipt, 0, n)}
		for i := 0; i < n && r.err == nil; i++ {
			var rc Receipt
			rc.Kind = r.u16()
			rc.Epoch = r.u64()
			rc.Provider = r.addr()
			rc.Units = r.u64()
			rc.ID = r.u64()
			rc.Memo = r.bytes(MaxMemoLen)
			rc.Consumer = make(ed25519.PublicKey, ed25519.PublicKeySize)
			r.raw(rc.Consumer)
			rc.Sig = make([]byte, ed25519.SignatureSize)
			r.raw(rc.Sig)
			c.Receipts = append(c.Receipts, rc)
		}
		m = c
	default:
		return nil, fmt.Errorf("unknown message type %d", uint8(t))
	}
	if err := r.done(); err != nil {
		return nil, fmt.Errorf("%s message: %v", t, err)
	}
	return m, nil
}

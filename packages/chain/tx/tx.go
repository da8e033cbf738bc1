// Package tx defines OEChain's transactions: Ed25519-signed, carrying a chain
// ID, a nonce, a fee and one typed message, in a deterministic binary encoding
// of this package's own (no protobuf, no JSON, nothing whose bytes depend on a
// library's field order or map order).
//
// Encoding (all integers big-endian fixed width unless said otherwise; a
// "bytes" field is a uvarint length in its shortest form followed by that
// many bytes):
//
//	magic   "OETX" (4 bytes)
//	version 1 (1 byte)
//	chainID bytes (1..64)
//	pubkey  32 bytes (the signer's Ed25519 public key)
//	nonce   uint64
//	fee     uint64
//	msgType 1 byte
//	msg     bytes (the message's own encoding, see msg.go)
//	sig     64 bytes: Ed25519 over SignDomain || everything above
//
// Decode accepts exactly the bytes Encode produces: a non-minimal uvarint,
// trailing bytes, an unknown type or an oversized field is an error, so one
// transaction has one encoding and one hash.
package tx

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
)

// Limits of the encoding.
const (
	MaxChainIDLen = 64
	MaxMsgLen     = 16 << 10
	MaxTxLen      = 4 + 1 + 1 + MaxChainIDLen + 32 + 8 + 8 + 1 + 3 + MaxMsgLen + 64
	Version       = 1
)

// SignDomain separates OEChain transaction signatures from every other
// signature the same key makes.
const SignDomain = "oechain/tx/v1\x00"

var magic = [4]byte{'O', 'E', 'T', 'X'}

// AddressLen is the length of an account address.
const AddressLen = 20

// Address is an account: the first 20 bytes of SHA-256 of its Ed25519 public
// key (the same derivation CometBFT uses for validator addresses).
type Address [AddressLen]byte

// AddressOf returns the address of an Ed25519 public key.
func AddressOf(pub ed25519.PublicKey) Address {
	sum := sha256.Sum256(pub)
	var a Address
	copy(a[:], sum[:AddressLen])
	return a
}

func (a Address) String() string { return hex.EncodeToString(a[:]) }

// IsZero reports whether a is the zero address.
func (a Address) IsZero() bool { return a == Address{} }

// ParseAddress parses the hex form String prints.
func ParseAddress(s string) (Address, error) {
	var a Address
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != AddressLen {
		return a, fmt.Errorf("address %q: want %d hex-encoded bytes", s, AddressLen)
	}
	copy(a[:], b)
	return a, nil
}

// Tx is one signed transaction.
type Tx struct {
	ChainID string
	PubKey  ed25519.PublicKey
	Nonce   uint64
	Fee     uint64
	Msg     Msg
	Sig     []byte
}

// Sender is the address of the signing key.
func (t *Tx) Sender() Address { return AddressOf(t.PubKey) }

// Errors Decode returns, wrapped with detail.
var (
	ErrMalformed = errors.New("malformed transaction")
	ErrSignature = errors.New("bad signature")
)

func (t *Tx) unsigned() ([]byte, error) {
	if n := len(t.ChainID); n == 0 || n > MaxChainIDLen {
		return nil, fmt.Errorf("%w: chain ID of %d bytes (want 1..%d)", ErrMalformed, n, MaxChainIDLen)
	}
	if len(t.PubKey) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: public key of %d bytes", ErrMalformed, len(t.PubKey))
	}
	if t.Msg == nil {
		return nil, fmt.Errorf("%w: no message", ErrMalformed)
	}
	var w writer
	w.raw(magic[:])
	w.u8(Version)
	w.bytes([]byte(t.ChainID))
	w.raw(t.PubKey)
	w.u64(t.Nonce)
	w.u64(t.Fee)
	w.u8(uint8(t.Msg.Type()))
	var mw writer
	t.Msg.encode(&mw)
	if len(mw.b) > MaxMsgLen {
		return nil, fmt.Errorf("%w: message of %d bytes (max %d)", ErrMalformed, len(mw.b), MaxMsgLen)
	}
	// What cannot be decoded must not be signed: the decoder's limits
	// (key sizes, name length, receipt count) are the encoder's too.
	if _, err := decodeMsg(t.Msg.Type(), mw.b); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	w.bytes(mw.b)
	return w.b, nil
}

// SignBytes is what the signature covers.
func (t *Tx) SignBytes() ([]byte, error) {
	u, err := t.unsigned()
	if err != nil {
		return nil, err
	}
	return append([]byte(SignDomain), u...), nil
}

// Sign sets PubKey from key and signs the transaction.
func (t *Tx) Sign(key ed25519.PrivateKey) error {
	t.PubKey = key.Public().(ed25519.PublicKey)
	sb, err := t.SignBytes()
	if err != nil {
		return err
	}
	t.Sig = ed25519.Sign(key, sb)
	return nil
}

// Verify checks the signature.
func (t *Tx) Verify() error {
	sb, err := t.SignBytes()
	if err != nil {
		return err
	}
	if len(t.Sig) != ed25519.SignatureSize || !ed25519.Verify(t.PubKey, sb, t.Sig) {
		return ErrSignature
	}
	return nil
}

// Encode returns the wire form of a signed transaction.
func (t *Tx) Encode() ([]byte, error) {
	u, err := t.unsigned()
	if err != nil {
		return nil, err
	}
	if len(t.Sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: unsigned", ErrMalformed)
	}
	return append(u, t.Sig...), nil
}

// Hash is the transaction's ID: SHA-256 of its wire form, as CometBFT names
// transactions.
func Hash(raw []byte) [32]byte { return sha256.Sum256(raw) }

// Decode parses the wire form. It does not check the signature (Verify does).
func Decode(b []byte) (*Tx, error) {
	if len(b) > MaxTxLen {
		return nil, fmt.Errorf("%w: %d bytes (max %d)", ErrMalformed, len(b), MaxTxLen)
	}
	r := reader{b: b}
	var m [4]byte
	r.raw(m[:])
	if r.err == nil && m != magic {
		return nil, fmt.Errorf("%w: not an OEChain transaction", ErrMalformed)
	}
	if v := r.u8(); r.err == nil && v != Version {
		return nil, fmt.Errorf("%w: version %d (this node knows %d)", ErrMalformed, v, Version)
	}
	t := &Tx{}
	t.ChainID = string(r.bytes(MaxChainIDLen))
	t.PubKey = make([]byte, ed25519.PublicKeySize)
	r.raw(t.PubKey)
	t.Nonce = r.u64()
	t.Fee = r.u64()
	typ := MsgType(r.u8())
	body := r.bytes(MaxMsgLen)
	t.Sig = make([]byte, ed25519.SignatureSize)
	r.raw(t.Sig)
	if r.err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, r.err)
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(r.b))
	}
	if t.ChainID == "" {
		return nil, fmt.Errorf("%w: empty chain ID", ErrMalformed)
	}
	msg, err := decodeMsg(typ, body)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	t.Msg = msg
	return t, nil
}

// writer and reader are the encoding's primitives.
type writer struct{ b []byte }

func (w *writer) raw(p []byte) { w.b = append(w.b, p...) }
func (w *writer) u8(v uint8)   { w.b = append(w.b, v) }
func (w *writer) u16(v uint16) { w.b = binary.BigEndian.AppendUint16(w.b, v) }
func (w *writer) u64(v uint64) { w.b = binary.BigEndian.AppendUint64(w.b, v) }
func (w *writer) bytes(p []byte) {
	w.b = binary.AppendUvarint(w.b, uint64(len(p)))
	w.b = append(w.b, p...)
}

type reader struct {
	b   []byte
	err error
}

var errShort = errors.New("truncated")

func (r *reader) raw(p []byte) {
	if r.err != nil {
		return
	}
	if len(r.b) < len(p) {
		r.err = errShort
		return
	}
	copy(p, r.b)
	r.b = r.b[len(p):]
}

func (r *reader) u8() uint8 {
	var p [1]byte
	r.raw(p[:])
	return p[0]
}

func (r *reader) u16() uint16 {
	var p [2]byte
	r.raw(p[:])
	return binary.BigEndian.Uint16(p[:])
}

func (r *reader) u64() uint64 {
	var p [8]byte
	r.raw(p[:])
	return binary.BigEndian.Uint64(p[:])
}

func (r *reader) bytes(max int) []byte {
	if r.err != nil {
		return nil
	}
	n, k := binary.Uvarint(r.b)
	if k <= 0 {
		r.err = errors.New("bad length")
		return nil
	}
	if k != len(binary.AppendUvarint(nil, n)) {
		r.err = errors.New("non-minimal length")
		return nil
	}
	if n > uint64(max) {
		r.err = fmt.Errorf("field of %d bytes (max %d)", n, max)
		return nil
	}
	r.b = r.b[k:]
	p := make([]byte, n)
	r.raw(p)
	return p
}

func (r *reader) addr() Address {
	var a Address
	r.raw(a[:])
	return a
}

func (r *reader) done() error {
	if r.err != nil {
		return r.err
	}
	if len(r.b) != 0 {
		return fmt.Errorf("%d trailing bytes in message", len(r.b))
	}
	return nil
}

// Bytes returns the address as a slice.
func (a Address) Bytes() []byte { return a[:] }

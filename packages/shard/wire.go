package shard

// Wire format. One request per stream. Every message is a frame: a uvarint
// body length followed by the body; bodies have a fixed layout per kind, so
// decoding is strict (no trailing bytes, canonical only) and bounded.
//
//	request  = op(1) ...
//	  put    = 1 | id(32) | size(u64 BE) | auth     then, after a "continue"
//	                                                  response, size raw bytes
//	  get    = 2 | id(32)                           response "ok" + size raw bytes
//	  has    = 3 | n(u16 BE, 1..MaxHasBatch) | n*id(32)
//	  delete = 4 | id(32) | auth
//	  list   = 5 | after(32) | limit(u16 BE, 1..MaxListBatch) | auth
//	                                                  the owner's shards with IDs above after
//	  grant  = 6 | id(32) | index(u32 BE) | glen(u16 BE) | grant | np(1) | np*hash(32)
//	                                                  a get against a Grant (auth.go)
//	response = code(1) | size(u64 BE) | n(u16 BE) | bitmap(ceil(n/8)) | msglen(u16 BE) | msg
//	           | k(u16 BE) | k*(id(32) | age(u32 BE, seconds since stored))    (list)
//
// auth (auth.go) is owner(32) | ts(u64 BE) | nonce(16) | sig(64).
//
// A put is two-phase so that a refusal (quota, too large, bad size) costs
// the sender no upload, and a shard the holder already has is not sent again.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"syscall"
	"time"
)

type op byte

const (
	opPut    op = 1
	opGet    op = 2
	opHas    op = 3
	opDelete op = 4
	opList   op = 5
	opGrant  op = 6
)

type code byte

const (
	codeOK       code = 0
	codeContinue code = 1 // put: send the payload now

	codeNotFound     code = 16
	codeRefused      code = 17
	codeOverQuota    code = 18
	codeHashMismatch code = 19
	codeCorrupt      code = 20
	codeTooLarge     code = 21
	codeNotOwner     code = 22
	codeDiskFull     code = 23
	codeBusy         code = 24
	codeBadRequest   code = 25
	codeInternal     code = 26
	codeBadAuth      code = 27
)

// Wire limits.
const (
	maxMsg       = 256                    // bytes of a response's human-readable message
	maxReqFrame  = 1 + 2 + MaxHasBatch*32 // the largest request body (has)
	maxRespFrame = 1 + 8 + 2 + MaxHasBatch/8 + 2 + maxMsg + 2 + MaxListBatch*36
)

// codes maps wire error codes to sentinels, in the order codeOf tests them.
var codes = []struct {
	c   code
	err error
}{
	{codeNotFound, ErrNotFound},
	{codeRefused, ErrRefused},
	{codeOverQuota, ErrOverQuota},
	{codeCorrupt, ErrCorrupt},
	{codeHashMismatch, ErrHashMismatch},
	{codeTooLarge, ErrTooLarge},
	{codeNotOwner, ErrNotOwner},
	{codeDiskFull, ErrDiskFull},
	{codeBusy, ErrBusy},
	{codeBadRequest, ErrBadRequest},
	{codeBadAuth, ErrBadAuth},
	{codeInternal, ErrInternal},
}

func codeOf(err error) code {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return codeBadRequest
	}
	if errors.Is(err, syscall.ENOSPC) { // e.g. the index failing on a full disk
		return codeDiskFull
	}
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return c.c
		}
	}
	return codeInternal
}

func errOf(c code) error {
	for _, e := range codes {
		if e.c == c {
			return e.err
		}
	}
	return nil
}

type request struct {
	op    op
	id    ID    // put, get, delete, grant; list: the cursor
	size  int64 // put
	ids   []ID  // has
	limit int   // list
	// grant
	index uint32
	grant *Grant
	proof [][32]byte

	auth *auth  // put, delete, list
	body []byte // decoded: the bytes auth signs
}

// signed reports whether op carries an owner signature.
func (o op) signed() bool { return o == opPut || o == opDelete || o == opList }

// Listed is one shard a holder keeps for an owner.
type Listed struct {
	ID  ID
	Age time.Duration // since the holder stored it (whole seconds)
}

type response struct {
	code   code
	size   int64  // get: bytes that follow
	have   []bool // has
	msg    string
	listed []Listed // list
}

var errMalformed = errors.New("malformed message")

func (r *request) marshal() ([]byte, error) {
	b := []byte{byte(r.op)}
	switch r.op {
	case opPut:
		if r.size < 0 || r.size > MaxShardSize {
			return nil, fmt.Errorf("%w: size %d", ErrTooLarge, r.size)
		}
		b = append(b, r.id[:]...)
		b = binary.BigEndian.AppendUint64(b, uint64(r.size))
	case opGet, opDelete:
		b = append(b, r.id[:]...)
	case opHas:
		if len(r.ids) == 0 || len(r.ids) > MaxHasBatch {
			return nil, fmt.Errorf("%w: %d ids in one has", ErrBadRequest, len(r.ids))
		}
		b = binary.BigEndian.AppendUint16(b, uint16(len(r.ids)))
		for _, id := range r.ids {
			b = append(b, id[:]...)
		}
	case opList:
		if r.limit < 1 || r.limit > MaxListBatch {
			return nil, fmt.Errorf("%w: list of %d", ErrBadRequest, r.limit)
		}
		b = append(b, r.id[:]...)
		b = binary.BigEndian.AppendUint16(b, uint16(r.limit))
	case opGrant:
		if r.grant == nil || len(r.proof) > maxProof {
			return nil, fmt.Errorf("%w: grant request", ErrBadRequest)
		}
		g := r.grant.Marshal()
		b = append(b, r.id[:]...)
		b = binary.BigEndian.AppendUint32(b, r.index)
		b = binary.BigEndian.AppendUint16(b, uint16(len(g)))
		b = append(b, g...)
		b = append(b, byte(len(r.proof)))
		for _, h := range r.proof {
			b = append(b, h[:]...)
		}
	default:
		return nil, fmt.Errorf("%w: op %d", ErrBadRequest, r.op)
	}
	if r.op.signed() {
		if r.auth == nil {
			return nil, fmt.Errorf("%w: op %d needs an owner signature", ErrBadRequest, r.op)
		}
		b = r.auth.append(b)
	}
	return b, nil
}

func unmarshalRequest(b []byte) (*request, error) {
	if len(b) < 1 {
		return nil, errMalformed
	}
	r := &request{op: op(b[0])}
	if r.op.signed() {
		if len(b) < 1+authSize {
			return nil, errMalformed
		}
		a, err := parseAuth(b[len(b)-authSize:])
		if err != nil {
			return nil, err
		}
		r.auth = &a
		b = b[:len(b)-authSize]
		r.body = b
	}
	b = b[1:]
	switch r.op {
	case opPut:
		if len(b) != 32+8 {
			return nil, errMalformed
		}
		copy(r.id[:], b)
		u := binary.BigEndian.Uint64(b[32:])
		if u > MaxShardSize {
			return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, u)
		}
		r.size = int64(u)
	case opGet, opDelete:
		if len(b) != 32 {
			return nil, errMalformed
		}
		copy(r.id[:], b)
	case opHas:
		if len(b) < 2 {
			return nil, errMalformed
		}
		n := int(binary.BigEndian.Uint16(b))
		b = b[2:]
		if n == 0 || n > MaxHasBatch || len(b) != 32*n {
			return nil, errMalformed
		}
		r.ids = make([]ID, n)
		for i := range r.ids {
			copy(r.ids[i][:], b[32*i:])
		}
	case opList:
		if len(b) != 32+2 {
			return nil, errMalformed
		}
		copy(r.id[:], b)
		r.limit = int(binary.BigEndian.Uint16(b[32:]))
		if r.limit < 1 || r.limit > MaxListBatch {
			return nil, errMalformed
		}
	case opGrant:
		if len(b) < 32+4+2 {
			return nil, errMalformed
		}
		copy(r.id[:], b)
		r.index = binary.BigEndian.Uint32(b[32:])
		gl := int(binary.BigEndian.Uint16(b[36:]))
		b = b[38:]
		if len(b) < gl+1 {
			return nil, errMalformed
		}
		g, err := UnmarshalGrant(b[:gl])
		if err != nil {
			return nil, errMalformed
		}
		r.grant = g
		np := int(b[gl])
		b = b[gl+1:]
		if np > maxProof || len(b) != 32*np {
			return nil, errMalformed
		}
		r.proof = make([][32]byte, np)
		for i := range r.proof {
			copy(r.proof[i][:], b[32*i:])
		}
	default:
		return nil, fmt.Errorf("%w: unknown op %d", errMalformed, r.op)
	}
	return r, nil
}

func (r *response) marshal() []byte {
	msg := r.msg
	if len(msg) > maxMsg {
		msg = msg[:maxMsg]
	}
	b := []byte{byte(r.code)}
	b = binary.BigEndian.AppendUint64(b, uint64(r.size))
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.have)))
	bm := make([]byte, (len(r.have)+7)/8)
	for i, h := range r.have {
		if h {
			bm[i/8] |= 1 << (i % 8)
		}
	}
	b = append(b, bm...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(msg)))
	b = append(b, msg...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.listed)))
	for _, l := range r.listed {
		b = append(b, l.ID[:]...)
		b = binary.BigEndian.AppendUint32(b, uint32(min(l.Age/time.Second, math.MaxUint32)))
	}
	return b
}

func unmarshalResponse(b []byte) (*response, error) {
	if len(b) < 1+8+2 {
		return nil, errMalformed
	}
	r := &response{code: code(b[0])}
	if r.code > codeContinue && errOf(r.code) == nil {
		return nil, fmt.Errorf("%w: unknown code %d", errMalformed, r.code)
	}
	u := binary.BigEndian.Uint64(b[1:])
	if u > MaxShardSize {
		return nil, fmt.Errorf("%w: size %d", errMalformed, u)
	}
	r.size = int64(u)
	n := int(binary.BigEndian.Uint16(b[9:]))
	b = b[11:]
	if n > MaxHasBatch || len(b) < (n+7)/8+2 {
		return nil, errMalformed
	}
	if n > 0 {
		r.have = make([]bool, n)
		for i := range r.have {
			r.have[i] = b[i/8]&(1<<(i%8)) != 0
		}
		// Padding bits must be zero: one encoding per message.
		if n%8 != 0 && b[n/8]>>(n%8) != 0 {
			return nil, errMalformed
		}
	}
	b = b[(n+7)/8:]
	m := int(binary.BigEndian.Uint16(b))
	b = b[2:]
	if m > maxMsg || len(b) < m+2 {
		return nil, errMalformed
	}
	r.msg = string(b[:m])
	b = b[m:]
	k := int(binary.BigEndian.Uint16(b))
	b = b[2:]
	if k > MaxListBatch || len(b) != 36*k {
		return nil, errMalformed
	}
	if k > 0 {
		r.listed = make([]Listed, k)
		for i := range r.listed {
			copy(r.listed[i].ID[:], b[36*i:])
			r.listed[i].Age = time.Duration(binary.BigEndian.Uint32(b[36*i+32:])) * time.Second
		}
	}
	return r, nil
}

// appendFrame prefixes body with its uvarint length.
func appendFrame(dst, body []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(body)))
	return append(dst, body...)
}

// readFrame reads one frame of at most max body bytes.
func readFrame(r *bufio.Reader, max int) ([]byte, error) {
	// binary.ReadUvarint reads at most MaxVarintLen64 bytes; the bound is
	// checked on the value.
	n, err := binary.ReadUvarint(r)
	if err != nil {
		if err == io.EOF {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("frame length: %w", err)
	}
	if n > uint64(max) {
		return nil, fmt.Errorf("%w: frame of %d bytes, limit %d", errMalformed, n, max)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("frame body: %w", err)
	}
	return b, nil
}

func readRequest(r *bufio.Reader) (*request, error) {
	b, err := readFrame(r, maxReqFrame)
	if err != nil {
		return nil, err
	}
	return unmarshalRequest(b)
}

func readResponse(r *bufio.Reader) (*response, error) {
	b, err := readFrame(r, maxRespFrame)
	if err != nil {
		return nil, err
	}
	return unmarshalResponse(b)
}

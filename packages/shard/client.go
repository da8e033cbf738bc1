package shard

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// RemoteError is an error answered by a holder. It unwraps to the sentinel
// of its code (ErrRefused, ErrOverQuota, ...), so callers use errors.Is. A
// shard the holder found corrupt on its disk is both ErrCorrupt and
// ErrHashMismatch: either way, the caller did not get the right bytes.
type RemoteError struct {
	Peer peer.ID
	Msg  string // the holder's explanation, sanitized
	code code
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("shard: holder %s: %s", e.Peer, e.Msg)
}

// Unwrap returns the sentinels the error matches.
func (e *RemoteError) Unwrap() []error {
	err := errOf(e.code)
	if err == nil {
		err = ErrProtocol
	}
	if e.code == codeCorrupt {
		return []error{err, ErrHashMismatch}
	}
	return []error{err}
}

// Client talks to holders. Its timeouts may be changed before first use.
type Client struct {
	h host.Host
	// Timeout bounds a request's small messages; transfers also get the
	// shard size at MinRate bytes per second. The context may be shorter.
	Timeout time.Duration
	MinRate int64
	key     ed25519.PrivateKey // signs put, delete and list
}

// NewClient returns a client using h.
func NewClient(h host.Host) *Client {
	return &Client{h: h, Timeout: 20 * time.Second, MinRate: 64 << 10}
}

// WithOwner returns a copy of c that signs put, delete and list with the
// owner's key: the shards belong to that key, whichever box sends them.
func (c *Client) WithOwner(key ed25519.PrivateKey) *Client {
	cc := *c
	cc.key = key
	return &cc
}

// call is one request on its own stream.
type call struct {
	c   *Client
	ctx context.Context
	p   peer.ID
	s   network.Stream
	br  *bufio.Reader
	end func() bool
}

func (c *Client) open(ctx context.Context, p peer.ID, req *request, size int64) (*call, error) {
	if req.op.signed() {
		if c.key == nil {
			return nil, fmt.Errorf("%w: no owner key to sign with (shard.Client.WithOwner)", ErrBadRequest)
		}
		if err := req.sign(c.key, p, time.Now()); err != nil {
			return nil, err
		}
	}
	body, err := req.marshal()
	if err != nil {
		return nil, err
	}
	// Shards may travel over a relay when no direct path exists.
	s, err := c.h.NewStream(network.WithAllowLimitedConn(ctx, "oe-shard"), p, Protocol)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			err = cerr
		}
		return nil, fmt.Errorf("shard: open stream to %s: %w", p, err)
	}
	cl := &call{c: c, ctx: ctx, p: p, s: s, br: bufio.NewReaderSize(s, 4096)}
	// Cancelling ctx aborts blocked reads and writes.
	cl.end = context.AfterFunc(ctx, func() { s.Reset() })
	d := time.Now().Add(transferTimeout(c.Timeout, c.MinRate, size))
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		d = cd
	}
	s.SetDeadline(d)
	if _, err := s.Write(appendFrame(nil, body)); err != nil {
		cl.close()
		return nil, cl.wrap("send request", err)
	}
	return cl, nil
}

func (cl *call) close() {
	cl.end()
	cl.s.Close()
}

func (cl *call) wrap(what string, err error) error {
	if cerr := cl.ctx.Err(); cerr != nil {
		return fmt.Errorf("shard: %s %s: %w", what, cl.p, cerr)
	}
	return fmt.Errorf("shard: %s %s: %w", what, cl.p, err)
}

// response reads one response; error codes become *RemoteError.
func (cl *call) response() (*response, error) {
	r, err := readResponse(cl.br)
	if err != nil {
		if errors.Is(err, errMalformed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("%w: %w", ErrProtocol, err)
		}
		return nil, cl.wrap("response from", err)
	}
	if r.code > codeContinue {
		return nil, &RemoteError{Peer: cl.p, Msg: sanitize(r.msg), code: r.code}
	}
	return r, nil
}

// Put stores data on holder p under id. The holder checks the hash.
func (c *Client) Put(ctx context.Context, p peer.ID, id ID, data []byte) error {
	if len(data) > MaxShardSize {
		return fmt.Errorf("%w: %d bytes", ErrTooLarge, len(data))
	}
	cl, err := c.open(ctx, p, &request{op: opPut, id: id, size: int64(len(data))}, int64(len(data)))
	if err != nil {
		return err
	}
	defer cl.close()
	r, err := cl.response()
	if err != nil {
		return err
	}
	if r.code == codeOK { // the holder already has it
		return nil
	}
	// Send while watching for an answer: a holder that fails mid-put (disk
	// full) answers at once and stops reading, and a sender blocked on a
	// full flow-control window would otherwise only learn of it at the
	// deadline.
	werr := make(chan error, 1)
	go func() {
		_, err := cl.s.Write(data)
		if err == nil {
			err = cl.s.CloseWrite()
		}
		werr <- err
	}()
	r, err = cl.response()
	if err != nil {
		cl.s.Reset() // unblocks the writer
		<-werr
		return err
	}
	if err := <-werr; err != nil {
		return cl.wrap("send shard to", err)
	}
	if r.code != codeOK {
		return cl.wrap("put on", fmt.Errorf("%w: unexpected second continue", ErrProtocol))
	}
	return nil
}

// Get fetches the shard from holder p and verifies it (ErrHashMismatch).
func (c *Client) Get(ctx context.Context, p peer.ID, id ID) ([]byte, error) {
	return c.GetInto(ctx, p, id, nil)
}

// GetInto is Get reading into dst's capacity when it is big enough (the
// result then aliases dst), so a get can reuse its buffers.
func (c *Client) GetInto(ctx context.Context, p peer.ID, id ID, dst []byte) ([]byte, error) {
	return c.getWith(ctx, p, &request{op: opGet, id: id}, dst)
}

func (c *Client) getWith(ctx context.Context, p peer.ID, req *request, dst []byte) ([]byte, error) {
	id := req.id
	cl, err := c.open(ctx, p, req, MaxShardSize)
	if err != nil {
		return nil, err
	}
	defer cl.close()
	cl.s.CloseWrite()
	r, err := cl.response()
	if err != nil {
		return nil, err
	}
	if r.code != codeOK {
		return nil, cl.wrap("get from", fmt.Errorf("%w: unexpected continue", ErrProtocol))
	}
	buf := sized(dst, r.size) // r.size <= MaxShardSize, checked by the decoder
	if _, err := io.ReadFull(cl.br, buf); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("%w: shard truncated: %w", ErrProtocol, err)
		}
		return nil, cl.wrap("receive shard from", err)
	}
	if got := Sum(buf); got != id {
		return nil, fmt.Errorf("%w: holder %s sent %s for %s", ErrHashMismatch, p, got, id)
	}
	return buf, nil
}

// Has asks holder p which of ids it holds, in batches of MaxHasBatch.
func (c *Client) Has(ctx context.Context, p peer.ID, ids []ID) ([]bool, error) {
	out := make([]bool, 0, len(ids))
	for len(ids) > 0 {
		n := min(len(ids), MaxHasBatch)
		have, err := c.has(ctx, p, ids[:n])
		if err != nil {
			return nil, err
		}
		out = append(out, have...)
		ids = ids[n:]
	}
	return out, nil
}

func (c *Client) has(ctx context.Context, p peer.ID, ids []ID) ([]bool, error) {
	cl, err := c.open(ctx, p, &request{op: opHas, ids: ids}, 0)
	if err != nil {
		return nil, err
	}
	defer cl.close()
	cl.s.CloseWrite()
	r, err := cl.response()
	if err != nil {
		return nil, err
	}
	if r.code != codeOK || len(r.have) != len(ids) {
		return nil, cl.wrap("has on", fmt.Errorf("%w: %d answers for %d ids", ErrProtocol, len(r.have), len(ids)))
	}
	return r.have, nil
}

// Delete asks holder p to drop this client's owner's reference to the shard.
func (c *Client) Delete(ctx context.Context, p peer.ID, id ID) error {
	cl, err := c.open(ctx, p, &request{op: opDelete, id: id}, 0)
	if err != nil {
		return err
	}
	defer cl.close()
	cl.s.CloseWrite()
	r, err := cl.response()
	if err != nil {
		return err
	}
	if r.code != codeOK {
		return cl.wrap("delete on", fmt.Errorf("%w: unexpected continue", ErrProtocol))
	}
	return nil
}

// List returns up to limit (at most MaxListBatch) of the shards holder p
// keeps for this client's owner key, with IDs from from on, in ID order.
// A short answer is the last page.
func (c *Client) List(ctx context.Context, p peer.ID, from ID, limit int) ([]Listed, error) {
	cl, err := c.open(ctx, p, &request{op: opList, id: from, limit: limit}, 0)
	if err != nil {
		return nil, err
	}
	defer cl.close()
	cl.s.CloseWrite()
	r, err := cl.response()
	if err != nil {
		return nil, err
	}
	if r.code != codeOK || len(r.listed) > limit {
		return nil, cl.wrap("list on", fmt.Errorf("%w: %d shards for a list of %d", ErrProtocol, len(r.listed), limit))
	}
	for i := 1; i < len(r.listed); i++ {
		if bytes.Compare(r.listed[i-1].ID[:], r.listed[i].ID[:]) >= 0 {
			return nil, cl.wrap("list on", fmt.Errorf("%w: shards out of order", ErrProtocol))
		}
	}
	if len(r.listed) > 0 && bytes.Compare(r.listed[0].ID[:], from[:]) < 0 {
		return nil, cl.wrap("list on", fmt.Errorf("%w: shard before the cursor", ErrProtocol))
	}
	return r.listed, nil
}

// Next returns the cursor after id, and false after the last ID.
func Next(id ID) (ID, bool) {
	for i := len(id) - 1; i >= 0; i-- {
		if id[i]++; id[i] != 0 {
			return id, true
		}
	}
	return id, false
}

// GetGranted is GetInto for a peer that need not be p's friend: g is the
// owner's grant over ids, and the shard fetched is ids[i].
func (c *Client) GetGranted(ctx context.Context, p peer.ID, g *Grant, ids []ID, i int, dst []byte) ([]byte, error) {
	if i < 0 || i >= len(ids) {
		return nil, fmt.Errorf("%w: shard %d of a grant of %d", ErrBadRequest, i, len(ids))
	}
	req := &request{op: opGrant, id: ids[i], index: uint32(i), grant: g, proof: GrantProof(ids, i)}
	return c.getWith(ctx, p, req, dst)
}

// sanitize makes a remote message safe to log and show.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == unicode.ReplacementChar || !unicode.IsPrint(r) {
			return '?'
		}
		return r
	}, s)
}

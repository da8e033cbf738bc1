package p2p

import (
	"context"
	"net"
	"sync"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/core/sec"
	tptu "github.com/libp2p/go-libp2p/p2p/net/upgrader"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
)

// batchedTLS is libp2p's TLS 1.3 security transport with one change: a
// Write on the secured connection leaves in one write system call instead of
// one per TLS record. crypto/tls writes each record of at most 16 KiB on its
// own, so a 64 KiB yamux frame cost four system calls, four loopback or LAN
// packets and up to four wake-ups of the receiver; on a small box moving
// shards, that per-record cost was a large share of the CPU. The wire format
// is unchanged: peers with plain libp2p TLS interoperate.
type batchedTLS struct{ *libp2ptls.Transport }

func newBatchedTLS(id protocol.ID, key crypto.PrivKey, muxers []tptu.StreamMuxer) (*batchedTLS, error) {
	t, err := libp2ptls.New(id, key, muxers)
	if err != nil {
		return nil, err
	}
	return &batchedTLS{t}, nil
}

func (t *batchedTLS) SecureInbound(ctx context.Context, insecure net.Conn, p peer.ID) (sec.SecureConn, error) {
	return batched(ctx, insecure, p, t.Transport.SecureInbound)
}

func (t *batchedTLS) SecureOutbound(ctx context.Context, insecure net.Conn, p peer.ID) (sec.SecureConn, error) {
	return batched(ctx, insecure, p, t.Transport.SecureOutbound)
}

// batched runs a TLS handshake over a recordBatcher on insecure.
func batched(ctx context.Context, insecure net.Conn, p peer.ID, handshake func(context.Context, net.Conn, peer.ID) (sec.SecureConn, error)) (sec.SecureConn, error) {
	raw := &recordBatcher{Conn: insecure}
	c, err := handshake(ctx, raw, p)
	if err != nil {
		return nil, err
	}
	return &batchedConn{SecureConn: c, raw: raw}, nil
}

// batchedConn is the secured connection: each Write gathers the records TLS
// makes of it and sends them at once.
type batchedConn struct {
	sec.SecureConn
	raw *recordBatcher
	mu  sync.Mutex // one Write at a time, so a batch holds one Write's records
}

func (c *batchedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.raw.hold(true)
	n, err := c.SecureConn.Write(p)
	c.raw.hold(false)
	if ferr := c.raw.flush(); err == nil && ferr != nil {
		// The records are lost with the connection: report none written.
		return 0, ferr
	}
	return n, err
}

// maxBatch bounds what a batch may hold; bigger Writes go out as they come.
const maxBatch = 256 << 10

var batchPool = sync.Pool{New: func() any {
	b := make([]byte, 0, 80<<10) // a 64 KiB frame in records, with room
	return &b
}}

// recordBatcher sits under crypto/tls. While held, writes gather in a
// buffer; otherwise (handshake, alerts, key updates outside a batch) they go
// straight through, after whatever is gathered, so order is kept.
type recordBatcher struct {
	net.Conn
	mu      sync.Mutex
	holding bool
	buf     *[]byte
	err     error // sticky: once a flush failed, the connection is broken
}

func (b *recordBatcher) hold(on bool) {
	b.mu.Lock()
	b.holding = on
	b.mu.Unlock()
}

func (b *recordBatcher) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return 0, b.err
	}
	if b.holding && b.pending()+len(p) <= maxBatch {
		if b.buf == nil {
			b.buf = batchPool.Get().(*[]byte)
		}
		*b.buf = append(*b.buf, p...)
		return len(p), nil
	}
	if err := b.flushLocked(); err != nil {
		return 0, err
	}
	return b.Conn.Write(p)
}

func (b *recordBatcher) pending() int {
	if b.buf == nil {
		return 0
	}
	return len(*b.buf)
}

func (b *recordBatcher) flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.flushLocked()
}

func (b *recordBatcher) flushLocked() error {
	if b.err != nil {
		return b.err
	}
	if b.buf == nil {
		return nil
	}
	_, err := b.Conn.Write(*b.buf)
	*b.buf = (*b.buf)[:0]
	if cap(*b.buf) <= maxBatch {
		batchPool.Put(b.buf)
	}
	b.buf = nil
	if err != nil {
		b.err = err
	}
	return err
}

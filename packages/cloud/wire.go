package cloud

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
)

// Messages on the friend protocols are a 4-byte big-endian length and a
// JSON object; bulk data follows as chunks (4-byte length, bytes) ended by
// an empty chunk, so a truncated stream is never mistaken for a whole one.

const (
	maxMsg   = 1 << 20 // control messages
	maxChunk = 1 << 20
)

func writeMsg(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if len(b) > maxMsg*64 {
		return errors.New("cloud: message too large")
	}
	var h [4]byte
	binary.BigEndian.PutUint32(h[:], uint32(len(b)))
	if _, err := w.Write(h[:]); err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// readMsg reads one message of at most limit bytes into v.
func readMsg(r io.Reader, v any, limit int) error {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return fmt.Errorf("cloud: reading message: %w", err)
	}
	n := binary.BigEndian.Uint32(h[:])
	if int64(n) > int64(limit) {
		return fmt.Errorf("cloud: message of %d bytes exceeds %d", n, limit)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return fmt.Errorf("cloud: reading message: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("cloud: bad message: %w", err)
	}
	return nil
}

// chunkWriter frames bulk data; Close writes the end marker.
type chunkWriter struct{ w io.Writer }

func (c chunkWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(len(p), maxChunk)
		var h [4]byte
		binary.BigEndian.PutUint32(h[:], uint32(k))
		if _, err := c.w.Write(h[:]); err != nil {
			return n, err
		}
		if _, err := c.w.Write(p[:k]); err != nil {
			return n, err
		}
		n += k
		p = p[k:]
	}
	return n, nil
}

func (c chunkWriter) Close() error {
	_, err := c.w.Write([]byte{0, 0, 0, 0})
	return err
}

// chunkReader reads framed bulk data, at most limit bytes in all. A
// stream that ends before the end marker yields io.ErrUnexpectedEOF.
type chunkReader struct {
	r     io.Reader
	left  int   // bytes left in the current chunk
	total int64 // bytes read so far
	limit int64
	done  bool
}

var errTooBig = errors.New("cloud: delivery exceeds the receiver's size limit")

func (c *chunkReader) Read(p []byte) (int, error) {
	if c.done {
		return 0, io.EOF
	}
	for c.left == 0 {
		var h [4]byte
		if _, err := io.ReadFull(c.r, h[:]); err != nil {
			return 0, io.ErrUnexpectedEOF
		}
		n := binary.BigEndian.Uint32(h[:])
		if n == 0 {
			c.done = true
			return 0, io.EOF
		}
		if n > maxChunk {
			return 0, fmt.Errorf("cloud: chunk of %d bytes too large", n)
		}
		c.left = int(n)
		if c.total+int64(n) > c.limit {
			return 0, errTooBig
		}
	}
	k, err := c.r.Read(p[:min(len(p), c.left)])
	c.left -= k
	c.total += int64(k)
	if err == io.EOF {
		if c.left > 0 {
			return k, io.ErrUnexpectedEOF
		}
		err = nil
	}
	return k, err
}

// idleStream renews the stream's deadline on every read and write, so a
// long transfer may take as long as it needs but a stalled one fails.
type idleStream struct {
	network.Stream
	idle time.Duration
}

func (s idleStream) Read(p []byte) (int, error) {
	s.SetReadDeadline(time.Now().Add(s.idle))
	return s.Stream.Read(p)
}

func (s idleStream) Write(p []byte) (int, error) {
	s.SetWriteDeadline(time.Now().Add(s.idle))
	return s.Stream.Write(p)
}

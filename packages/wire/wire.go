// Package wire frames the messages of the box's own JSON protocols (the
// friend book, and the personal cloud's deliver, share and root protocols):
// a uvarint length followed by a JSON document, with a hard size limit so a
// hostile peer cannot make a box allocate without bound. Bulk data that
// follows a message (a delivered file) travels as chunks, each a uvarint
// length and that many bytes, ended by an empty chunk, so a stream cut off
// early is never taken for a whole one.
//
// The shard protocol (packages/shard) keeps its own compact binary framing:
// it carries every byte of every file, one request per 2 MiB shard, and its
// fixed-layout headers cost no JSON encoding on that path.
package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// ErrTooLarge is returned for a frame or body longer than the reader's limit.
var ErrTooLarge = errors.New("wire: message too large")

// Write sends v as one frame, in one write.
func Write(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var hdr [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(hdr[:], uint64(len(b)))
	if _, err := w.Write(append(hdr[:n:n], b...)); err != nil {
		return fmt.Errorf("wire: write: %w", err)
	}
	return nil
}

// Read decodes one frame of at most max bytes into v. It reads nothing
// past the frame (from a reader that is not an io.ByteReader the length is
// read a byte at a time), so bytes that follow stay in r. Memory grows with
// the bytes that arrive, not with the length the peer declares. Unknown
// fields are refused, so a peer speaking a different version fails loudly.
func Read(r io.Reader, max int, v any) error {
	n, err := binary.ReadUvarint(byteReader(r))
	if err != nil {
		if errors.Is(err, io.EOF) {
			return io.ErrUnexpectedEOF
		}
		return fmt.Errorf("wire: bad length: %w", err)
	}
	if n > uint64(max) {
		return fmt.Errorf("%w: %d > %d bytes", ErrTooLarge, n, max)
	}
	var buf bytes.Buffer
	// Grow by what arrives: a peer that declares 64 MiB and sends ten
	// bytes costs ten bytes (plus bytes.Buffer's first 512).
	if got, err := buf.ReadFrom(io.LimitReader(r, int64(n))); err != nil || got != int64(n) {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("wire: truncated message: %w", err)
	}
	dec := json.NewDecoder(&buf)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("wire: bad message: %w", err)
	}
	if dec.More() {
		return errors.New("wire: trailing data in message")
	}
	return nil
}

func byteReader(r io.Reader) io.ByteReader {
	if br, ok := r.(io.ByteReader); ok {
		return br
	}
	return oneByte{r}
}

type oneByte struct{ r io.Reader }

func (o oneByte) ReadByte() (byte, error) {
	var b [1]byte
	if _, err := io.ReadFull(o.r, b[:]); err != nil {
		return 0, err
	}
	return b[0], nil
}

// MaxChunk is the largest chunk a ChunkWriter writes and a ChunkReader
// accepts.
const MaxChunk = 1 << 20

// ChunkWriter frames bulk data as chunks; Close writes the end marker (it
// does not close the underlying writer).
type ChunkWriter struct{ W io.Writer }

func (c ChunkWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(len(p), MaxChunk)
		var h [binary.MaxVarintLen64]byte
		hn := binary.PutUvarint(h[:], uint64(k))
		if _, err := c.W.Write(h[:hn]); err != nil {
			return n, err
		}
		if _, err := c.W.Write(p[:k]); err != nil {
			return n, err
		}
		n += k
		p = p[k:]
	}
	return n, nil
}

// Close ends the body.
func (c ChunkWriter) Close() error {
	_, err := c.W.Write([]byte{0})
	return err
}

// ErrCutOff is returned for a body whose stream ended before its end
// marker. It wraps io.ErrUnexpectedEOF but is not that value, so a reader
// such as io.ReadFull, which takes io.ErrUnexpectedEOF for a short last
// read, passes it on as the error it is.
var ErrCutOff = fmt.Errorf("wire: body cut off before its end: %w", io.ErrUnexpectedEOF)

// ChunkReader reads a body framed by a ChunkWriter, at most Limit bytes in
// all (beyond it, an error wrapping ErrTooLarge). A stream that ends
// before the end marker yields ErrCutOff.
type ChunkReader struct {
	R     io.Reader
	Limit int64
	left  int   // bytes left in the current chunk
	total int64 // bytes read so far
	done  bool
}

// Done reports whether the end marker was read.
func (c *ChunkReader) Done() bool { return c.done }

// Total is the number of body bytes read so far.
func (c *ChunkReader) Total() int64 { return c.total }

func (c *ChunkReader) Read(p []byte) (int, error) {
	if c.done {
		return 0, io.EOF
	}
	for c.left == 0 {
		n, err := binary.ReadUvarint(byteReader(c.R))
		if err != nil {
			if errors.Is(err, io.EOF) {
				return 0, ErrCutOff
			}
			return 0, fmt.Errorf("wire: bad chunk length: %w", err)
		}
		if n == 0 {
			c.done = true
			return 0, io.EOF
		}
		if n > MaxChunk {
			return 0, fmt.Errorf("wire: chunk of %d bytes exceeds %d", n, MaxChunk)
		}
		if c.total+int64(n) > c.Limit {
			return 0, fmt.Errorf("%w: body over %d bytes", ErrTooLarge, c.Limit)
		}
		c.left = int(n)
	}
	k, err := c.R.Read(p[:min(len(p), c.left)])
	c.left -= k
	c.total += int64(k)
	if err == io.EOF {
		if c.left > 0 {
			return k, ErrCutOff
		}
		err = nil
	}
	return k, err
}

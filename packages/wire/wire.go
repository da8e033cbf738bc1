// Package wire frames the messages of the box's own libp2p protocols: a
// uvarint length followed by a JSON document, with a hard size limit so a
// hostile peer cannot make a box allocate without bound.
package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// ErrTooLarge is returned for a frame longer than the reader's limit.
var ErrTooLarge = errors.New("wire: message too large")

// Write sends v as one frame.
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

// Read decodes one frame of at most max bytes into v. Unknown fields are
// refused, so a peer speaking a different version fails loudly.
func Read(r *bufio.Reader, max int, v any) error {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return io.ErrUnexpectedEOF
		}
		return fmt.Errorf("wire: bad length: %w", err)
	}
	if n > uint64(max) {
		return fmt.Errorf("%w: %d > %d bytes", ErrTooLarge, n, max)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return fmt.Errorf("wire: truncated message: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(buf))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("wire: bad message: %w", err)
	}
	if dec.More() {
		return errors.New("wire: trailing data in message")
	}
	return nil
}

package cloud

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"oepc.dev/oepcos/packages/wire"
)

// Messages on the friend protocols are packages/wire frames (a uvarint
// length and a JSON object, the framing of the friend book too); a
// delivered file follows its header as wire chunks.

const maxMsg = 1 << 20 // control messages

func writeMsg(w io.Writer, v any) error { return wire.Write(w, v) }

// readMsg reads one message of at most limit bytes into v; it reads
// nothing past it.
func readMsg(r io.Reader, v any, limit int) error {
	if err := wire.Read(r, limit, v); err != nil {
		return fmt.Errorf("cloud: %w", err)
	}
	return nil
}

// How a stream ends. The side that writes the last message half-closes
// and waits, briefly, for the peer to close its side before closing
// fully. Closing at once can throw the message away before the peer reads
// it: over QUIC a full close cancels the peer's writes (STOP_SENDING), and
// a peer that then resets its stream discards what it had not read; over
// yamux a reset before our close is seen drops the unread bytes too.
const (
	lingerTimeout = 5 * time.Second
	// lingerMax bounds what is read and discarded while waiting: a
	// well-behaved peer sends nothing more; a peer that keeps sending is
	// reset.
	lingerMax = 1 << 20
)

// endStream half-closes st, waits for the peer's close and closes.
func endStream(st network.Stream) {
	if err := st.CloseWrite(); err != nil {
		st.Reset()
		return
	}
	st.SetReadDeadline(time.Now().Add(lingerTimeout))
	n, _ := io.CopyN(io.Discard, st, lingerMax)
	if n >= lingerMax {
		st.Reset() // our last message and end went out first: a reset cannot overtake them
		return
	}
	st.Close()
}

// answer writes the last message of a stream and ends it.
func answer(st network.Stream, v any) {
	st.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if err := writeMsg(st, v); err != nil {
		st.Reset()
		return
	}
	endStream(st)
}

// refuse answers st with a refusal: the peer reads it as the error.
func refuse(st network.Stream, msg string) { answer(st, reply{Error: msg}) }

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

// perFriend bounds the streams of one protocol that one friend may have
// open at once, as the shard server does: a friend is trusted with data,
// not with the box's memory.
type perFriend struct {
	mu  sync.Mutex
	n   map[peer.ID]int
	max int
}

func newPerFriend(max int) *perFriend { return &perFriend{n: map[peer.ID]int{}, max: max} }

func (l *perFriend) admit(p peer.ID) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n[p] >= l.max {
		return false
	}
	l.n[p]++
	return true
}

func (l *perFriend) leave(p peer.ID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n[p]--; l.n[p] <= 0 {
		delete(l.n, p)
	}
}

// gatedReader asks for a slot once more than free bytes have been read: a
// friend may have many small requests in flight but only few large ones.
type gatedReader struct {
	r      io.Reader
	free   int
	n      int
	held   bool
	take   func() bool
	refuse error
}

func (g *gatedReader) Read(p []byte) (int, error) {
	if g.n+len(p) > g.free && !g.held {
		if !g.take() {
			return 0, g.refuse
		}
		g.held = true
	}
	n, err := g.r.Read(p)
	g.n += n
	return n, err
}

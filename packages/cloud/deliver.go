package cloud

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"oepc.dev/oepcos/packages/wire"
)

// Deliver: a file pushed straight into a friend's /Received.
//
// sender                                 receiver
//   header {name, size}           →
//                                 ←      {ok} (go ahead) or {error}
//   body as wire chunks           →      (may answer {error} early: the
//                                         sender stops and reports it)
//   close write                   →
//                                 ←      {ok, path} or {error}

// deliverHeader opens a delivery. Size is the body's length, or -1 if the
// sender does not know it (the receiver then counts as the bytes arrive).
type deliverHeader struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

// cleanName makes a delivered file name safe: one path element.
func cleanName(n string) (string, error) {
	n = path.Base(strings.ReplaceAll(n, "\\", "/"))
	if n == "." || n == "/" || n == ".." || n == "" || len(n) > 255 || !utf8.ValidString(n) {
		return "", fmt.Errorf("cloud: bad file name %q", n)
	}
	for _, r := range n {
		if r < 0x20 || r == 0x7f {
			return "", fmt.Errorf("cloud: bad file name %q", n)
		}
	}
	return n, nil
}

func decodeDeliverHeader(r io.Reader) (deliverHeader, error) {
	var h deliverHeader
	if err := readMsg(r, &h, 4<<10); err != nil {
		return h, err
	}
	if h.Size < -1 {
		return h, fmt.Errorf("cloud: bad size %d", h.Size)
	}
	n, err := cleanName(h.Name)
	h.Name = n
	return h, err
}

// RefusedError is a friend's box refusing a request; it matches ErrRefused.
type RefusedError struct {
	Friend string // as the user named it
	What   string // "the delivery"
	Reason string // the friend's box's words
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("cloud: friend %s's box refused %s: %s", e.Friend, e.What, e.Reason)
}

func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

// ErrRefused matches every refusal by a friend's box.
var ErrRefused = errors.New("cloud: refused by the friend's box")

// Send delivers a file straight to a friend's box, where it lands in the
// friend's Received folder. It returns the path there.
func (s *Service) Send(ctx context.Context, friend peer.ID, name string, r io.Reader) (string, error) {
	return s.SendFile(ctx, friend, name, r, SendOptions{Size: -1})
}

// SendOptions tune a delivery.
type SendOptions struct {
	// Size is the file's length, or -1 if unknown. Known, it lets the
	// friend's box refuse a file over its limits before any byte is sent.
	Size int64
	// FriendName names the friend in errors (default: its peer ID).
	FriendName string
}

// deliverHandshake opens a delivery stream, sends the header and reads the
// friend's first answer (go ahead, or a refusal). The connection it rides
// on may be one the friend has just closed (blocking a friend closes its
// connections) that this side has not yet seen die; then the stream fails
// before any answer (or fails to open at all: QUIC notices there), nothing
// was delivered, and one more try on a fresh connection gets the friend's
// real answer. Only a quick failure is tried again: a friend that is
// offline costs one dial timeout, not two.
func (s *Service) deliverHandshake(ctx context.Context, friend peer.ID, h deliverHeader) (network.Stream, reply, error) {
	const quick = 5 * time.Second
	for try := 0; ; try++ {
		start := time.Now()
		st, rep, err := s.deliverAsk(ctx, friend, h)
		if err == nil || try == 1 || ctx.Err() != nil || time.Since(start) > quick || !s.cfg.IsFriend(friend) {
			return st, rep, err
		}
		select {
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
			return nil, reply{}, errors.Join(err, ctx.Err())
		}
	}
}

// deliverAsk is one try of deliverHandshake.
func (s *Service) deliverAsk(ctx context.Context, friend peer.ID, h deliverHeader) (network.Stream, reply, error) {
	st, err := s.open(ctx, friend, ProtoDeliver)
	if err != nil {
		return nil, reply{}, err
	}
	st.SetDeadline(time.Now().Add(30 * time.Second))
	var rep reply
	err = writeMsg(st, h)
	if err == nil {
		if err = readMsg(st, &rep, maxMsg); err == nil {
			return st, rep, nil
		}
	}
	st.Reset()
	return nil, reply{}, fmt.Errorf("the connection closed before its box answered: %w", err)
}

// SendFile is Send with options.
func (s *Service) SendFile(ctx context.Context, friend peer.ID, name string, r io.Reader, o SendOptions) (string, error) {
	name, err := cleanName(name)
	if err != nil {
		return "", err
	}
	who := o.FriendName
	if who == "" {
		who = friend.String()
	}
	refused := func(reason string) error {
		return &RefusedError{Friend: who, What: "the delivery", Reason: reason}
	}
	st, rep, err := s.deliverHandshake(ctx, friend, deliverHeader{Name: name, Size: o.Size})
	if err != nil {
		return "", fmt.Errorf("cloud: send to %s: %w", who, err)
	}
	defer st.Close()
	stop := context.AfterFunc(ctx, func() { st.Reset() })
	defer stop()
	if !rep.OK {
		return "", refused(rep.Error)
	}

	// The body, while listening for the answer: a refusal may come early
	// (the friend's limits are met part-way), and then the body stops.
	type result struct {
		rep reply
		err error
	}
	answered := make(chan result, 1)
	var early atomic.Bool
	st.SetReadDeadline(time.Time{}) // reads wait for the answer; writes have their idle deadline
	go func() {
		var rep reply
		err := readMsg(st, &rep, maxMsg)
		if err == nil {
			early.Store(true)
			st.SetWriteDeadline(time.Now()) // unblock a write waiting on flow control
		}
		answered <- result{rep, err}
	}()
	wait := func(d time.Duration) (result, bool) {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case r := <-answered:
			return r, r.err == nil
		case <-t.C:
			return result{}, false
		}
	}
	bw := bufio.NewWriterSize(stoppableWriter{idleStream{st, idleTimeout}, &early}, 64<<10)
	cw := wire.ChunkWriter{W: bw}
	buf := make([]byte, 256<<10)
	_, err = io.CopyBuffer(cw, struct{ io.Reader }{r}, buf)
	if err == nil {
		if err = cw.Close(); err == nil {
			err = bw.Flush()
		}
	}
	if err != nil {
		// A failed write may be the friend's refusal: over QUIC its close
		// cancels our writes. Its answer is then waiting to be read.
		if res, ok := wait(lingerTimeout); ok && !res.rep.OK {
			return "", refused(res.rep.Error)
		}
		st.Reset()
		return "", fmt.Errorf("cloud: send to %s: %w", who, err)
	}
	st.CloseWrite()
	// The friend stores the file in its cloud before answering.
	st.SetReadDeadline(time.Now().Add(s.cfg.CallTimeout + 2*time.Minute))
	res := <-answered
	if res.err != nil {
		return "", fmt.Errorf("cloud: send to %s: no answer: %w", who, res.err)
	}
	if !res.rep.OK {
		return "", refused(res.rep.Error)
	}
	return res.rep.Path, nil
}

// stoppableWriter fails once the peer has answered: the body is not
// wanted any more.
type stoppableWriter struct {
	w    io.Writer
	stop *atomic.Bool
}

var errAnswered = errors.New("cloud: the friend answered before the end of the file")

func (w stoppableWriter) Write(p []byte) (int, error) {
	if w.stop.Load() {
		return 0, errAnswered
	}
	return w.w.Write(p)
}

func (s *Service) handleDeliver(st network.Stream) {
	from := st.Conn().RemotePeer()
	br := bufio.NewReaderSize(idleStream{st, idleTimeout}, 64<<10)
	st.SetReadDeadline(time.Now().Add(30 * time.Second))
	hdr, err := decodeDeliverHeader(br)
	if err != nil {
		refuse(st, "bad delivery: "+err.Error())
		return
	}
	if hdr.Size > s.cfg.MaxDeliverSize {
		refuse(st, deliveryError(wire.ErrTooLarge, s.cfg.MaxDeliverSize))
		return
	}
	res, err := s.fp.inbox.reserve(s, from, hdr.Size)
	if err != nil {
		s.log.Info("delivery refused", "from", from, "name", hdr.Name, "size", hdr.Size, "err", err)
		refuse(st, err.Error())
		return
	}
	defer res.release()
	st.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if err := writeMsg(st, reply{OK: true}); err != nil {
		st.Reset()
		return
	}
	limit := s.cfg.MaxDeliverSize
	if hdr.Size >= 0 {
		limit = min(limit, hdr.Size)
	}
	body := &wire.ChunkReader{R: br, Limit: limit}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, err := s.receive(ctx, from, hdr.Name, &countedBody{body, res})
	if err != nil {
		s.log.Warn("delivery failed", "from", from, "name", hdr.Name, "err", err)
		answer(st, reply{Error: deliveryError(err, s.cfg.MaxDeliverSize)})
		return
	}
	s.log.Info("file delivered", "from", from, "path", p)
	answer(st, reply{OK: true, Path: p})
}

// deliveryError is what the sender is told of a failed delivery.
func deliveryError(err error, max int64) string {
	var q *quotaError
	switch {
	case errors.As(err, &q):
		return q.Error()
	case errors.Is(err, wire.ErrTooLarge):
		return fmt.Sprintf("the file is larger than the %s it accepts in one delivery (or than the size announced)", humanBytes(max))
	case errors.Is(err, wire.ErrCutOff):
		return "the file was cut off before its end"
	}
	return err.Error()
}

// receive stores a delivered file under /Received. Its name is chosen
// again where the file is committed, under the index lock: two deliveries
// of one name both land, under two names.
func (s *Service) receive(ctx context.Context, from peer.ID, name string, r io.Reader) (string, error) {
	p, err := s.ix.FreeName(path.Join(ReceivedDir, name))
	if err != nil {
		return "", err
	}
	// A delivery is not refused because some of the receiver's friends
	// are offline: shards go to distinct boxes while there are enough, and
	// only then share a box.
	e, err := s.Put(ctx, p, r, PutOptions{Force: true, freeName: true})
	if err != nil {
		return "", err
	}
	s.fp.inbox.delivered(s, from, e)
	return e.Path, nil
}

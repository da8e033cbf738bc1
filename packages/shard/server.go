package shard

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Authorizer decides who may use the protocol (friends; later contract
// counterparties).
type Authorizer interface{ Allowed(p peer.ID) bool }

// AuthorizerFunc adapts a function to Authorizer.
type AuthorizerFunc func(peer.ID) bool

// Allowed implements Authorizer.
func (f AuthorizerFunc) Allowed(p peer.ID) bool { return f(p) }

// ServerOptions tune a Server. Zero fields take the defaults.
type ServerOptions struct {
	// MaxStreams bounds the requests served at once (default 16). A
	// request waits up to QueueWait for a slot, then gets ErrBusy.
	MaxStreams int
	QueueWait  time.Duration // default 2s
	// MaxStreamsPerPeer keeps one friend from taking every slot (default
	// MaxStreams/2, at least 1); beyond it the peer gets ErrBusy at once.
	MaxStreamsPerPeer int
	// RequestTimeout bounds reading a request and answering a small one
	// (default 20s). Transfers get RequestTimeout plus the shard size at
	// MinRate bytes per second (default 64 KiB/s), so a slow or stalled
	// peer cannot hold a slot for ever.
	RequestTimeout time.Duration
	MinRate        int64
	// MaxStrangers bounds the requests of peers the Authorizer does not
	// allow (default 4): they may only get shards against an owner's
	// Grant. MaxNonces bounds the signed requests remembered against
	// replay (default 1<<17: a signed request per 2 MiB shard, at 400
	// requests a second for MaxClockSkew).
	MaxStrangers int
	MaxNonces    int
}

func (o *ServerOptions) fill() {
	if o.MaxStreams <= 0 {
		o.MaxStreams = 16
	}
	if o.MaxStreamsPerPeer <= 0 {
		o.MaxStreamsPerPeer = max(1, o.MaxStreams/2)
	}
	if o.QueueWait <= 0 {
		o.QueueWait = 2 * time.Second
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 20 * time.Second
	}
	if o.MinRate <= 0 {
		o.MinRate = 64 << 10
	}
	if o.MaxStrangers <= 0 {
		o.MaxStrangers = 4
	}
	if o.MaxNonces <= 0 {
		o.MaxNonces = 1 << 17
	}
}

// strangerTimeout bounds reading a stranger's request.
const strangerTimeout = 5 * time.Second

func transferTimeout(base time.Duration, minRate, size int64) time.Duration {
	return base + time.Duration(size)*time.Second/time.Duration(minRate)
}

// Server serves Protocol on a host for the peers its Authorizer allows.
type Server struct {
	h    host.Host
	st   *Store
	auth Authorizer
	log  *slog.Logger
	opt  ServerOptions

	sem       chan struct{}
	strangers chan struct{}
	guard     replayGuard
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	streams map[network.Stream]struct{}
	perPeer map[peer.ID]int // requests admitted or waiting, per peer
}

// NewServer registers the Protocol handler on h with default options. A nil
// auth refuses everyone. Stored shards are not announced in the DHT: only
// their owners fetch them, from holders they know, and provider records
// would tell every DHT server which box holds how much.
func NewServer(h host.Host, s *Store, auth Authorizer, logger *slog.Logger) *Server {
	return NewServerWithOptions(h, s, auth, logger, ServerOptions{})
}

// NewServerWithOptions is NewServer with tuning.
func NewServerWithOptions(h host.Host, s *Store, auth Authorizer, logger *slog.Logger, opt ServerOptions) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	opt.fill()
	ctx, cancel := context.WithCancel(context.Background())
	sv := &Server{
		h: h, st: s, auth: auth, opt: opt,
		log:       logger.With("component", "shard-server"),
		sem:       make(chan struct{}, opt.MaxStreams),
		strangers: make(chan struct{}, opt.MaxStrangers),
		guard:     replayGuard{max: opt.MaxNonces},
		ctx:       ctx,
		cancel:    cancel,
		streams:   make(map[network.Stream]struct{}),
		perPeer:   make(map[peer.ID]int),
	}
	h.SetStreamHandler(Protocol, sv.handle)
	return sv
}

// Close removes the handler, aborts requests in flight and waits for them.
func (sv *Server) Close() error {
	sv.h.RemoveStreamHandler(Protocol)
	sv.mu.Lock()
	sv.closed = true
	for s := range sv.streams {
		s.Reset()
	}
	sv.mu.Unlock()
	sv.cancel()
	sv.wg.Wait()
	return nil
}

func (sv *Server) track(s network.Stream) bool {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if sv.closed {
		return false
	}
	sv.streams[s] = struct{}{}
	sv.wg.Add(1)
	return true
}

func (sv *Server) untrack(s network.Stream) {
	sv.mu.Lock()
	delete(sv.streams, s)
	sv.mu.Unlock()
	sv.wg.Done()
}

func (sv *Server) admit(p peer.ID) bool {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if sv.perPeer[p] >= sv.opt.MaxStreamsPerPeer {
		return false
	}
	sv.perPeer[p]++
	return true
}

func (sv *Server) leave(p peer.ID) {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if sv.perPeer[p]--; sv.perPeer[p] <= 0 {
		delete(sv.perPeer, p)
	}
}

// reply writes a response frame; failures surface on the next stream
// operation or not at all (the peer went away), so they are only logged.
func (sv *Server) reply(s network.Stream, r *response) error {
	_, err := s.Write(appendFrame(nil, r.marshal()))
	if err != nil {
		sv.log.Debug("writing response", "peer", s.Conn().RemotePeer(), "err", err)
	}
	return err
}

func (sv *Server) replyErr(s network.Stream, err error) {
	c := codeOf(err)
	msg := err.Error()
	// Keep paths and the like to ourselves.
	switch c {
	case codeInternal:
		msg = "holder internal error"
	case codeDiskFull:
		msg = "holder disk full"
	}
	sv.reply(s, &response{code: c, msg: msg})
}

func (sv *Server) handle(s network.Stream) {
	if !sv.track(s) {
		s.Reset()
		return
	}
	defer sv.untrack(s)
	remote := s.Conn().RemotePeer()
	log := sv.log.With("peer", remote)
	s.SetDeadline(time.Now().Add(sv.opt.RequestTimeout))

	// A stranger may only get a shard against its owner's grant: a few at
	// a time, with a short deadline, and refused as soon as its request is
	// anything else.
	stranger := sv.auth == nil || !sv.auth.Allowed(remote)
	if stranger {
		select {
		case sv.strangers <- struct{}{}:
			defer func() { <-sv.strangers }()
		default:
			sv.refuse(s, remote)
			return
		}
		s.SetDeadline(time.Now().Add(strangerTimeout))
	}

	// Bounded concurrency: a fair share per peer, then wait a little for a
	// slot, then say busy.
	if !sv.admit(remote) {
		sv.reply(s, &response{code: codeBusy, msg: "too many requests from you, retry later"})
		s.Close()
		return
	}
	defer sv.leave(remote)
	t := time.NewTimer(sv.opt.QueueWait)
	select {
	case sv.sem <- struct{}{}:
		t.Stop()
		defer func() { <-sv.sem }()
	case <-t.C:
		sv.reply(s, &response{code: codeBusy, msg: "holder busy, retry later"})
		s.Close()
		return
	case <-sv.ctx.Done():
		s.Reset()
		return
	}

	br := bufio.NewReaderSize(s, 4096)
	req, err := readRequest(br)
	if stranger && (err != nil || req.op != opGrant) {
		sv.refuse(s, remote)
		return
	}
	if err != nil {
		log.Info("bad request", "err", err)
		sv.replyErr(s, fmt.Errorf("%w: %w", ErrBadRequest, err))
		s.Close()
		return
	}
	if req.op.signed() {
		if err := sv.guard.check(req.auth, sv.h.ID(), req.body, time.Now()); err != nil {
			log.Info("refusing a request not signed by its owner", "op", req.op, "err", err)
			sv.replyErr(s, err)
			s.Close()
			return
		}
		// Before answering, so that a client's next request finds its
		// slot free; a put records its box once the shard is in.
		sv.st.Touch(req.auth.owner, remote)
	}
	switch req.op {
	case opPut:
		err = sv.put(s, br, req.auth.owner, req)
	case opGet:
		err = sv.get(s, req)
	case opGrant:
		err = sv.granted(s, remote, req)
	case opList:
		var ls []Listed
		if ls, err = sv.st.List(req.auth.owner, req.id, req.limit); err == nil {
			sv.reply(s, &response{code: codeOK, listed: ls})
		}
	case opHas:
		have := make([]bool, len(req.ids))
		for i, id := range req.ids {
			if have[i], err = sv.st.Has(id); err != nil {
				break
			}
		}
		if err == nil {
			sv.reply(s, &response{code: codeOK, have: have})
		}
	case opDelete:
		err = sv.st.Delete(req.auth.owner, req.id)
		if err == nil {
			log.Info("deleted shard", "shard", req.id)
			sv.reply(s, &response{code: codeOK})
		}
	}
	if err != nil {
		if codeOf(err) == codeInternal {
			log.Error("serving request", "op", req.op, "err", err)
		} else {
			log.Info("request failed", "op", req.op, "err", err)
		}
		sv.replyErr(s, err)
	}
	s.Close()
}

// refuse answers a stranger; Debug, not Info: a stranger must not be able
// to flood the log.
func (sv *Server) refuse(s network.Stream, remote peer.ID) {
	sv.log.Debug("refusing stranger", "peer", remote)
	s.SetDeadline(time.Now().Add(strangerTimeout))
	sv.reply(s, &response{code: codeRefused,
		msg: fmt.Sprintf("refused: %s is not a friend of %s and has no grant", remote, sv.h.ID())})
	s.Close()
}

// granted serves a get against a grant: signed by an owner of the shard,
// unexpired, naming the peer asking and this shard.
func (sv *Server) granted(s network.Stream, remote peer.ID, req *request) error {
	if err := req.grant.verify(remote, time.Now(), req.id, req.index, req.proof); err != nil {
		return err
	}
	// Only the grant's owner's shards: one owner cannot grant another's.
	ok, err := sv.st.OwnsShard(req.grant.Owner, req.id)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, req.id)
	}
	return sv.get(s, req)
}

func (sv *Server) put(s network.Stream, br *bufio.Reader, owner Owner, req *request) error {
	reserved, done, err := sv.st.begin(owner, req.id, req.size)
	if err != nil {
		return err
	}
	if done {
		sv.reply(s, &response{code: codeOK, msg: "already held"})
		return nil
	}
	defer sv.st.release(reserved)
	if err := sv.reply(s, &response{code: codeContinue}); err != nil {
		return nil // peer gone; nothing written
	}
	s.SetDeadline(time.Now().Add(transferTimeout(sv.opt.RequestTimeout, sv.opt.MinRate, req.size)))
	if err := sv.st.write(owner, req.id, br, req.size); err != nil {
		return err
	}
	sv.st.Touch(owner, s.Conn().RemotePeer())
	sv.log.Debug("stored shard", "owner", owner, "shard", req.id, "bytes", req.size)
	sv.reply(s, &response{code: codeOK})
	return nil
}

func (sv *Server) get(s network.Stream, req *request) error {
	rc, size, err := sv.st.Open(req.id)
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := sv.reply(s, &response{code: codeOK, size: size}); err != nil {
		return nil
	}
	s.SetDeadline(time.Now().Add(transferTimeout(sv.opt.RequestTimeout, sv.opt.MinRate, size)))
	// Large reads, so the stream leaves in whole 64 KiB frames rather than
	// io.Copy's 32 KiB ones (each a TLS write and a wake-up of the client).
	bp := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(bp)
	if _, err := io.CopyBuffer(s, onlyReader{rc}, *bp); err != nil && !errors.Is(err, io.EOF) {
		// Too late for an error response: the client's own hash check
		// (or short read) reports the failure; the store already dropped a
		// corrupt shard.
		sv.log.Warn("sending shard", "shard", req.id, "err", err)
	}
	return nil
}

// onlyReader hides any WriterTo, so io.CopyBuffer uses the buffer given.
type onlyReader struct{ io.Reader }

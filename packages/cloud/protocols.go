package cloud

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"oepc.dev/oepcos/packages/cloud/codec"
	"oepc.dev/oepcos/packages/store"
)

// Friend-to-friend protocols. Every handler refuses a peer that is not a
// friend before reading anything from it.
const (
	ProtoDeliver protocol.ID = "/oe/deliver/1.0.0"
	ProtoShare   protocol.ID = "/oe/share/1.0.0"
	ProtoRoot    protocol.ID = "/oe/cloud-root/1.0.0"
)

// ReceivedDir is where delivered files land.
const ReceivedDir = "/Received"

// idleTimeout fails a transfer that stalls this long.
const idleTimeout = 60 * time.Second

func (s *Service) registerProtocols() {
	h := s.cfg.Host
	h.SetStreamHandler(ProtoDeliver, s.friendsOnly(s.handleDeliver))
	h.SetStreamHandler(ProtoShare, s.friendsOnly(s.handleShare))
	h.SetStreamHandler(ProtoRoot, s.friendsOnly(s.handleRoot))
}

func (s *Service) unregisterProtocols() {
	for _, p := range []protocol.ID{ProtoDeliver, ProtoShare, ProtoRoot} {
		s.cfg.Host.RemoveStreamHandler(p)
	}
}

type reply struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	Path  string `json:"path,omitempty"`
}

func (s *Service) friendsOnly(h func(network.Stream)) network.StreamHandler {
	return func(st network.Stream) {
		p := st.Conn().RemotePeer()
		if !s.cfg.IsFriend(p) {
			s.log.Warn("refused a stranger", "peer", p, "protocol", st.Protocol())
			st.SetDeadline(time.Now().Add(5 * time.Second))
			writeMsg(st, reply{Error: "refused: not a friend"})
			st.Close()
			return
		}
		defer st.Close()
		h(st)
	}
}

func (s *Service) open(ctx context.Context, p peer.ID, proto protocol.ID) (network.Stream, error) {
	if s.cfg.Host == nil {
		return nil, errors.New("cloud: no network host")
	}
	if !s.cfg.IsFriend(p) {
		return nil, fmt.Errorf("cloud: %s is not a friend", p)
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	st, err := s.cfg.Host.NewStream(cctx, p, proto)
	if err != nil {
		return nil, fmt.Errorf("cloud: reaching %s: %w", p, err)
	}
	return st, nil
}

// --- deliver -------------------------------------------------------------

// deliverHeader opens a delivery.
type deliverHeader struct {
	Name string `json:"name"`
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

func decodeDeliverHeader(r io.Reader) (string, error) {
	var h deliverHeader
	if err := readMsg(r, &h, 4<<10); err != nil {
		return "", err
	}
	return cleanName(h.Name)
}

// Send delivers a file straight to a friend's box, where it lands in the
// friend's Received folder. It returns the path there.
func (s *Service) Send(ctx context.Context, friend peer.ID, name string, r io.Reader) (string, error) {
	name, err := cleanName(name)
	if err != nil {
		return "", err
	}
	st, err := s.open(ctx, friend, ProtoDeliver)
	if err != nil {
		return "", err
	}
	defer st.Close()
	stop := context.AfterFunc(ctx, func() { st.Reset() })
	defer stop()
	is := idleStream{st, idleTimeout}
	bw := bufio.NewWriterSize(is, 64<<10)
	if err := writeMsg(bw, deliverHeader{Name: name}); err != nil {
		return "", err
	}
	cw := chunkWriter{bw}
	buf := make([]byte, 256<<10)
	if _, err := io.CopyBuffer(cw, struct{ io.Reader }{r}, buf); err != nil {
		st.Reset()
		return "", fmt.Errorf("cloud: send: %w", err)
	}
	if err := cw.Close(); err != nil {
		return "", err
	}
	if err := bw.Flush(); err != nil {
		return "", fmt.Errorf("cloud: send: %w", err)
	}
	st.CloseWrite()
	// The friend stores the file in its cloud before answering.
	st.SetReadDeadline(time.Now().Add(s.cfg.CallTimeout + 2*time.Minute))
	var rep reply
	if err := readMsg(st, &rep, 64<<10); err != nil {
		return "", fmt.Errorf("cloud: send: no answer from %s: %w", friend, err)
	}
	if !rep.OK {
		return "", fmt.Errorf("cloud: %s refused the file: %s", friend, rep.Error)
	}
	return rep.Path, nil
}

func (s *Service) handleDeliver(st network.Stream) {
	from := st.Conn().RemotePeer()
	br := bufio.NewReaderSize(idleReader{st, idleTimeout}, 64<<10)
	name, err := decodeDeliverHeader(br)
	if err != nil {
		st.Reset()
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	body := &chunkReader{r: br, limit: s.cfg.MaxDeliverSize}
	p, err := s.receive(ctx, name, body)
	st.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if err != nil {
		s.log.Warn("delivery failed", "from", from, "name", name, "err", err)
		writeMsg(st, reply{Error: err.Error()})
		return
	}
	s.log.Info("file delivered", "from", from, "path", p)
	writeMsg(st, reply{OK: true, Path: p})
}

// idleReader renews the read deadline before each read.
type idleReader struct {
	st   network.Stream
	idle time.Duration
}

func (r idleReader) Read(p []byte) (int, error) {
	r.st.SetReadDeadline(time.Now().Add(r.idle))
	return r.st.Read(p)
}

// receive stores a delivered file under /Received, choosing a free name.
func (s *Service) receive(ctx context.Context, name string, r io.Reader) (string, error) {
	ext := path.Ext(name)
	stem := strings.TrimSuffix(name, ext)
	p := path.Join(ReceivedDir, name)
	for i := 2; ; i++ {
		_, err := s.Stat(p)
		if errors.Is(err, ErrNotFound) && !s.isDir(p) {
			break
		}
		if i > 1000 {
			return "", errors.New("cloud: no free name in Received")
		}
		p = path.Join(ReceivedDir, fmt.Sprintf("%s (%d)%s", stem, i, ext))
	}
	// A delivery is not refused because some of the receiver's friends
	// are offline: shards go to distinct boxes while there are enough, and
	// only then share a box.
	e, err := s.Put(ctx, p, r, PutOptions{Force: true})
	if err != nil {
		return "", err
	}
	return e.Path, nil
}

// --- share ---------------------------------------------------------------

// ShareToken lets a friend fetch one file: the manifest and the file key.
// It travels only over the encrypted, authenticated libp2p channel to the
// friend it was made for, and the friend keeps the key wrapped by its own
// owner key.
type ShareToken struct {
	V        int             `json:"v"`
	ID       string          `json:"id"`
	Owner    peer.ID         `json:"owner"`
	Name     string          `json:"name"`
	Manifest json.RawMessage `json:"manifest"`
	Key      []byte          `json:"key"`
}

// shareRecord is the owner's note of a share it made.
type shareRecord struct {
	File   codec.FileID `json:"file"`
	Friend peer.ID      `json:"friend"`
	Name   string       `json:"name"`
}

// receivedShare is the friend's copy of a token, key wrapped.
type receivedShare struct {
	Token      ShareToken `json:"token"`
	WrappedKey []byte     `json:"wkey"`
}

const sharePrefix = "oepc-share:"

// ShareAddress is the address a friend passes to get.
func ShareAddress(owner peer.ID, id string) string { return sharePrefix + owner.String() + "/" + id }

func parseShareAddress(a string) (peer.ID, string, error) {
	rest, ok := strings.CutPrefix(a, sharePrefix)
	if !ok {
		return "", "", errors.New("cloud: not a share address")
	}
	o, id, ok := strings.Cut(rest, "/")
	if !ok || len(id) != 32 {
		return "", "", errors.New("cloud: bad share address")
	}
	if _, err := hex.DecodeString(id); err != nil {
		return "", "", errors.New("cloud: bad share address")
	}
	p, err := peer.Decode(o)
	if err != nil {
		return "", "", fmt.Errorf("cloud: bad share address: %w", err)
	}
	return p, id, nil
}

// UnmarshalShareToken decodes and checks a token.
func UnmarshalShareToken(b []byte) (*ShareToken, *Manifest, error) {
	var t ShareToken
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, nil, fmt.Errorf("cloud: share token: %w", err)
	}
	return t.check()
}

func (t *ShareToken) check() (*ShareToken, *Manifest, error) {
	if t.V != 1 || len(t.Key) != codec.KeySize || len(t.ID) != 32 {
		return nil, nil, errors.New("cloud: bad share token")
	}
	if _, err := hex.DecodeString(t.ID); err != nil {
		return nil, nil, errors.New("cloud: bad share token ID")
	}
	m, err := UnmarshalManifest(t.Manifest)
	if err != nil {
		return nil, nil, err
	}
	return t, m, nil
}

type shareReq struct {
	Op    string        `json:"op"` // "offer", "token", "shard"
	ID    string        `json:"id,omitempty"`
	Token *ShareToken   `json:"token,omitempty"`
	Shard codec.ShardID `json:"shard,omitzero"` // "shard": which one
}

type shareResp struct {
	reply
	Token *ShareToken `json:"token,omitempty"`
	Size  int         `json:"size,omitempty"` // "shard": this many bytes follow
}

// Share lets friend fetch the file at path p and returns its address. The
// token is offered to the friend's box now (if it is online) and can be
// pulled later by the friend's get.
func (s *Service) Share(ctx context.Context, p string, friend peer.ID) (string, error) {
	if s.cfg.Host == nil {
		return "", errors.New("cloud: no network host")
	}
	if !s.cfg.IsFriend(friend) {
		return "", fmt.Errorf("cloud: %s is not a friend", friend)
	}
	e, err := s.Stat(p)
	if err != nil {
		return "", err
	}
	var idb [16]byte
	rand.Read(idb[:])
	id := hex.EncodeToString(idb[:])
	rec := shareRecord{File: e.File, Friend: friend, Name: path.Base(e.Path)}
	if err := store.PutJSON(s.cfg.KV, []byte("cloud/shares/"+id), rec); err != nil {
		return "", err
	}
	addr := ShareAddress(s.cfg.Host.ID(), id)
	tok, err := s.makeToken(id, rec)
	if err != nil {
		return "", err
	}
	if err := s.offer(ctx, friend, tok); err != nil {
		s.log.Info("share offer not delivered now; the friend can fetch it later", "friend", friend, "err", err)
	}
	return addr, nil
}

func (s *Service) makeToken(id string, rec shareRecord) (*ShareToken, error) {
	man, err := s.loadManifest(rec.File)
	if err != nil {
		return nil, err
	}
	key, err := s.fileKey(man)
	if err != nil {
		return nil, err
	}
	mb, err := MarshalManifest(man)
	if err != nil {
		return nil, err
	}
	return &ShareToken{V: 1, ID: id, Owner: s.cfg.Host.ID(), Name: rec.Name, Manifest: mb, Key: key}, nil
}

func (s *Service) offer(ctx context.Context, friend peer.ID, tok *ShareToken) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	st, err := s.open(ctx, friend, ProtoShare)
	if err != nil {
		return err
	}
	defer st.Close()
	st.SetDeadline(time.Now().Add(30 * time.Second))
	if err := writeMsg(st, shareReq{Op: "offer", Token: tok}); err != nil {
		return err
	}
	var r shareResp
	if err := readMsg(st, &r, maxMsg); err != nil {
		return err
	}
	if !r.OK {
		return errors.New(r.Error)
	}
	return nil
}

func (s *Service) handleShare(st network.Stream) {
	from := st.Conn().RemotePeer()
	st.SetDeadline(time.Now().Add(60 * time.Second))
	var req shareReq
	if err := readMsg(st, &req, maxManifestBytes+4096); err != nil {
		st.Reset()
		return
	}
	switch req.Op {
	case "offer":
		err := s.storeOffer(from, req.Token)
		if err != nil {
			writeMsg(st, shareResp{reply: reply{Error: err.Error()}})
			return
		}
		writeMsg(st, shareResp{reply: reply{OK: true}})
	case "token":
		rec, err := s.shareFor(from, req.ID)
		if err != nil {
			writeMsg(st, shareResp{reply: reply{Error: err.Error()}})
			return
		}
		tok, err := s.makeToken(req.ID, rec)
		if err != nil {
			writeMsg(st, shareResp{reply: reply{Error: "shared file no longer available"}})
			return
		}
		writeMsg(st, shareResp{reply: reply{OK: true}, Token: tok})
	case "shard":
		data, err := s.sharedShard(from, req.ID, req.Shard)
		if err != nil {
			writeMsg(st, shareResp{reply: reply{Error: err.Error()}})
			return
		}
		st.SetDeadline(time.Now().Add(2 * time.Minute))
		if writeMsg(st, shareResp{reply: reply{OK: true}, Size: len(data)}) == nil {
			st.Write(data)
		}
	default:
		writeMsg(st, shareResp{reply: reply{Error: "unknown request"}})
	}
}

// shareFor returns share id if it was made for friend from.
func (s *Service) shareFor(from peer.ID, id string) (shareRecord, error) {
	var rec shareRecord
	if err := store.GetJSON(s.cfg.KV, []byte("cloud/shares/"+id), &rec); err != nil || rec.Friend != from || len(id) != 32 {
		return shareRecord{}, errors.New("no such share for you")
	}
	return rec, nil
}

// sharedShard fetches, for the friend a file was shared with, a shard of
// that file from its holder: holders serve only their own friends, and the
// friend a file is shared with need not be one of them.
func (s *Service) sharedShard(from peer.ID, id string, sid codec.ShardID) ([]byte, error) {
	rec, err := s.shareFor(from, id)
	if err != nil {
		return nil, err
	}
	man, err := s.loadManifest(rec.File)
	if err != nil {
		return nil, errors.New("shared file no longer available")
	}
	ctx, cancel := s.call(context.Background())
	defer cancel()
	for _, seg := range man.Segments {
		for _, r := range seg.Shards {
			if r.ID == sid && r.Holder != "" {
				if data, err := s.cfg.Holders.Get(ctx, r.Holder, r.ID, nil); err == nil {
					return data, nil
				}
			}
		}
	}
	return nil, errors.New("shard not available")
}

// ownerProxied are the holders as a friend fetching a shared file sees
// them: a shard a holder will not give (it is not this box's friend) or
// cannot give is asked of the file's owner instead.
type ownerProxied struct {
	Holders
	s     *Service
	owner peer.ID
	id    string // the share
}

func (h ownerProxied) Get(ctx context.Context, p peer.ID, sid codec.ShardID, dst []byte) ([]byte, error) {
	data, err := h.Holders.Get(ctx, p, sid, dst)
	if err == nil || ctx.Err() != nil {
		return data, err
	}
	data, perr := h.s.shardFromOwner(ctx, h.owner, h.id, sid)
	if perr != nil {
		return nil, fmt.Errorf("%w; through the owner: %w", err, perr)
	}
	return data, nil
}

// shardFromOwner asks the owner of share id for one of its shards.
func (s *Service) shardFromOwner(ctx context.Context, owner peer.ID, id string, sid codec.ShardID) ([]byte, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	st, err := s.open(ctx, owner, ProtoShare)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	if d, ok := ctx.Deadline(); ok {
		st.SetDeadline(d)
	}
	if err := writeMsg(st, shareReq{Op: "shard", ID: id, Shard: sid}); err != nil {
		return nil, err
	}
	var r shareResp
	if err := readMsg(st, &r, maxMsg); err != nil {
		return nil, err
	}
	if !r.OK {
		return nil, fmt.Errorf("cloud: %s: %s", owner, r.Error)
	}
	if r.Size <= 0 || r.Size > codec.MaxShardSize {
		return nil, fmt.Errorf("cloud: %s: bad shard size %d", owner, r.Size)
	}
	data := make([]byte, r.Size)
	if _, err := io.ReadFull(st, data); err != nil {
		return nil, fmt.Errorf("cloud: shard from %s: %w", owner, err)
	}
	if codec.SumShard(data) != sid {
		return nil, fmt.Errorf("%w: from %s", codec.ErrBadShard, owner)
	}
	return data, nil
}

func (s *Service) storeOffer(from peer.ID, tok *ShareToken) error {
	if tok == nil {
		return errors.New("no token")
	}
	if tok.Owner != from {
		return errors.New("token owner is not the sender")
	}
	tok, man, err := tok.check()
	if err != nil {
		return err
	}
	owner, err := s.Owner()
	if err != nil {
		return errors.New("the friend's cloud is not set up")
	}
	rs := receivedShare{Token: *tok, WrappedKey: owner.Wrap(tok.Key, man.File[:])}
	rs.Token.Key = nil
	return store.PutJSON(s.cfg.KV, []byte(prefixShared+tok.ID), rs)
}

// fetchToken pulls a token from its owner.
func (s *Service) fetchToken(ctx context.Context, owner peer.ID, id string) (*ShareToken, *Manifest, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	st, err := s.open(ctx, owner, ProtoShare)
	if err != nil {
		return nil, nil, err
	}
	defer st.Close()
	st.SetDeadline(time.Now().Add(60 * time.Second))
	if err := writeMsg(st, shareReq{Op: "token", ID: id}); err != nil {
		return nil, nil, err
	}
	var r shareResp
	if err := readMsg(st, &r, maxManifestBytes+4096); err != nil {
		return nil, nil, err
	}
	if !r.OK || r.Token == nil {
		return nil, nil, fmt.Errorf("cloud: %s: %s", owner, r.Error)
	}
	if r.Token.Owner != owner || r.Token.ID != id {
		return nil, nil, errors.New("cloud: token does not match the address")
	}
	return r.Token.check()
}

// getShared fetches a file a friend shared, by its address: from the
// stored token first, and with a fresh token from the owner (its holders
// may have changed since) if that fails.
func (s *Service) getShared(ctx context.Context, addr string, w io.Writer) (*Manifest, error) {
	owner, id, err := parseShareAddress(addr)
	if err != nil {
		return nil, err
	}
	var rs receivedShare
	if store.GetJSON(s.cfg.KV, []byte(prefixShared+id), &rs) == nil && rs.Token.Owner == owner {
		if o, err := s.Owner(); err == nil {
			if man, err := UnmarshalManifest(rs.Token.Manifest); err == nil {
				if key, err := o.Unwrap(rs.WrappedKey, man.File[:]); err == nil {
					cw := &countingWriter{w: w}
					err = s.getBlobFrom(ctx, ownerProxied{s.cfg.Holders, s, owner, id}, man, key, cw)
					if err == nil || cw.n > 0 {
						return man, err
					}
					s.log.Info("stored share token failed; asking the owner", "err", err)
				}
			}
		}
	}
	tok, man, err := s.fetchToken(ctx, owner, id)
	if err != nil {
		return nil, err
	}
	return man, s.getBlobFrom(ctx, ownerProxied{s.cfg.Holders, s, owner, id}, man, tok.Key, w)
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

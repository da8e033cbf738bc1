package cloud

import (
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

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"oepc.dev/oepcos/packages/cloud/codec"
	"oepc.dev/oepcos/packages/cloud/index"
	"oepc.dev/oepcos/packages/shard"
	"oepc.dev/oepcos/packages/store"
)

// Share: a friend fetches one of the owner's files by its address, from
// the holders against the owner's grant or through the owner's box.

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
	// Grant (shard.Grant, signed by the owner key) lets the friend get
	// the file's shards from holders that are not its friends, while the
	// owner's box is off: the shard IDs in manifest order, until it
	// expires.
	Grant []byte `json:"grant,omitempty"`
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

// IsShareAddress says whether ref is a friend's share address rather than
// a path or a file ID.
func IsShareAddress(ref string) bool { return strings.HasPrefix(ref, sharePrefix) }

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
func UnmarshalShareToken(b []byte) (*ShareToken, *index.Manifest, error) {
	var t ShareToken
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, nil, fmt.Errorf("cloud: share token: %w", err)
	}
	return t.check()
}

func (t *ShareToken) check() (*ShareToken, *index.Manifest, error) {
	if t.V != 1 || len(t.Key) != codec.KeySize || len(t.ID) != 32 {
		return nil, nil, errors.New("cloud: bad share token")
	}
	if _, err := hex.DecodeString(t.ID); err != nil {
		return nil, nil, errors.New("cloud: bad share token ID")
	}
	m, err := index.UnmarshalManifest(t.Manifest)
	if err != nil {
		return nil, nil, err
	}
	if t.Grant != nil {
		if _, err := shard.UnmarshalGrant(t.Grant); err != nil {
			return nil, nil, errors.New("cloud: bad share grant")
		}
	}
	return t, m, nil
}

// grantIDs are the shard IDs a share's grant covers, in manifest order.
func grantIDs(man *index.Manifest) []codec.ShardID {
	var ids []codec.ShardID
	for _, sg := range man.Segments {
		for _, r := range sg.Shards {
			ids = append(ids, r.ID)
		}
	}
	return ids
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
	man, err := s.ix.Manifest(rec.File)
	if err != nil {
		return nil, err
	}
	key, err := s.fileKey(man)
	if err != nil {
		return nil, err
	}
	mb, err := index.MarshalManifest(man)
	if err != nil {
		return nil, err
	}
	owner, err := s.Owner()
	if err != nil {
		return nil, err
	}
	g, err := shard.NewGrant(owner.SigningKey(), rec.Friend, s.cfg.Clock().Add(s.cfg.ShareGrantTTL), grantIDs(man))
	if err != nil {
		return nil, err
	}
	return &ShareToken{V: 1, ID: id, Owner: s.cfg.Host.ID(), Name: rec.Name, Manifest: mb, Key: key, Grant: g.Marshal()}, nil
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
	// Many small requests at once (a get through the owner), few large.
	var release func()
	gr := &gatedReader{r: st, free: smallShareMsg, refuse: errors.New(msgBusy), take: func() bool {
		if !s.fp.shareBig.admit(from) {
			return false
		}
		select {
		case s.fp.bigSlots <- struct{}{}:
			release = func() { <-s.fp.bigSlots; s.fp.shareBig.leave(from) }
			return true
		default:
			s.fp.shareBig.leave(from)
			return false
		}
	}}
	var req shareReq
	err := readMsg(gr, &req, index.MaxManifestBytes+4096)
	if release != nil {
		release()
	}
	if err != nil {
		if errors.Is(err, gr.refuse) {
			refuse(st, msgBusy)
		} else {
			refuse(st, "bad request: "+err.Error())
		}
		return
	}
	switch req.Op {
	case "offer":
		if err := s.storeOffer(from, req.Token); err != nil {
			s.log.Info("share offer refused", "from", from, "err", err)
			refuse(st, err.Error())
			return
		}
		answer(st, shareResp{reply: reply{OK: true}})
	case "token":
		rec, err := s.shareFor(from, req.ID)
		if err != nil {
			refuse(st, err.Error())
			return
		}
		tok, err := s.makeToken(req.ID, rec)
		if err != nil {
			refuse(st, "shared file no longer available")
			return
		}
		answer(st, shareResp{reply: reply{OK: true}, Token: tok})
	case "shard":
		data, err := s.sharedShard(from, req.ID, req.Shard)
		if err != nil {
			refuse(st, err.Error())
			return
		}
		st.SetDeadline(time.Now().Add(2 * time.Minute))
		if writeMsg(st, shareResp{reply: reply{OK: true}, Size: len(data)}) != nil {
			st.Reset()
			return
		}
		if _, err := st.Write(data); err != nil {
			st.Reset()
			return
		}
		endStream(st)
	default:
		refuse(st, "unknown request")
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
	man, err := s.ix.Manifest(rec.File)
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
// them: a shard a holder will not give (it is not this box's friend) is
// asked again with the share's grant, and one it cannot give of the file's
// owner instead.
type ownerProxied struct {
	Holders
	s     *Service
	owner peer.ID
	id    string // the share
	grant []byte
	ids   []codec.ShardID // what the grant covers
	index map[codec.ShardID]int
}

func (s *Service) proxied(owner peer.ID, id string, tok *ShareToken, man *index.Manifest) ownerProxied {
	h := ownerProxied{Holders: s.cfg.Holders, s: s, owner: owner, id: id}
	if _, ok := s.cfg.Holders.(grantGetter); ok && tok.Grant != nil {
		h.grant, h.ids, h.index = tok.Grant, grantIDs(man), map[codec.ShardID]int{}
		for i, sid := range h.ids {
			if _, dup := h.index[sid]; !dup {
				h.index[sid] = i
			}
		}
	}
	return h
}

func (h ownerProxied) Get(ctx context.Context, p peer.ID, sid codec.ShardID, dst []byte) ([]byte, error) {
	data, err := h.Holders.Get(ctx, p, sid, dst)
	if err == nil || ctx.Err() != nil {
		return data, err
	}
	if i, ok := h.index[sid]; ok {
		data, gerr := h.Holders.(grantGetter).GetGranted(ctx, p, h.grant, h.ids, i, dst)
		if gerr == nil || ctx.Err() != nil {
			return data, gerr
		}
		err = fmt.Errorf("%w; with the grant: %w", err, gerr)
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

// Bounds on what one friend's share offers may keep on this box (vars
// for tests).
var (
	maxSharesPerFriend           = 1000
	maxShareBytesPerFriend int64 = 64 << 20
)

func sharedKey(owner peer.ID, id string) []byte {
	return []byte(prefixShared + owner.String() + "/" + id)
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
	b, err := json.Marshal(rs)
	if err != nil {
		return err
	}
	key := sharedKey(from, tok.ID)
	// Serialized with other index writes so two offers cannot pass the
	// bounds together.
	s.mu.Lock()
	defer s.mu.Unlock()
	n, bytes := 0, int64(0)
	err = s.cfg.KV.Scan([]byte(prefixShared+from.String()+"/"), func(k, v []byte) error {
		if string(k) != string(key) { // a new offer of the same share replaces it
			n++
			bytes += int64(len(v))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if n+1 > maxSharesPerFriend {
		return fmt.Errorf("refused: this box keeps at most %d shares from you; the friend can still fetch this one by its address", maxSharesPerFriend)
	}
	if bytes+int64(len(b)) > maxShareBytesPerFriend {
		return fmt.Errorf("refused: the shares you offered this box would take more than %s; the friend can still fetch this one by its address", humanBytes(maxShareBytesPerFriend))
	}
	return s.cfg.KV.Put(key, b)
}

// fetchToken pulls a token from its owner.
func (s *Service) fetchToken(ctx context.Context, owner peer.ID, id string) (*ShareToken, *index.Manifest, error) {
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
	if err := readMsg(st, &r, index.MaxManifestBytes+4096); err != nil {
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
func (s *Service) getShared(ctx context.Context, addr string, w io.Writer) (*index.Manifest, error) {
	owner, id, err := parseShareAddress(addr)
	if err != nil {
		return nil, err
	}
	var rs receivedShare
	if store.GetJSON(s.cfg.KV, sharedKey(owner, id), &rs) == nil && rs.Token.Owner == owner {
		if o, err := s.Owner(); err == nil {
			if man, err := index.UnmarshalManifest(rs.Token.Manifest); err == nil {
				if key, err := o.Unwrap(rs.WrappedKey, man.File[:]); err == nil {
					cw := &countingWriter{w: w}
					err = s.getBlobFrom(ctx, s.proxied(owner, id, &rs.Token, man), man, key, cw)
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
	// Keep the fresh token (and its grant) for a get while the owner is off.
	if err := s.storeOffer(owner, tok); err != nil {
		s.log.Debug("keeping the fresh share token", "err", err)
	}
	return man, s.getBlobFrom(ctx, s.proxied(owner, id, tok, man), man, tok.Key, w)
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

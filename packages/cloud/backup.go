package cloud

// Index backup and recovery.
//
// The owner's box keeps the file index (paths, manifests, folders) in its
// KV. So that the index survives the loss of the box, it is backed up to
// the friends' boxes like any file:
//
//  1. The index is serialized, sealed under a fresh file key and stored as
//     erasure-coded shards on friends' boxes (the put pipeline).
//  2. The backup's manifest (shard IDs, holders, the file key wrapped by
//     the owner's wrap key) is sealed with the owner's index key into a
//     root record, numbered with an increasing sequence number and signed
//     with the owner's signing key (all three keys derive from the
//     recovery phrase).
//  3. The root record is pushed to every friend over /oe/cloud-root/1.0.0;
//     each keeps the newest validly signed record per owner public key.
//
// To recover on a new box: set the box up, make friends again with the
// old friends' boxes (holders only serve friends), then give the phrase
// (oepc cloud recover, POST /v1/cloud/recover). The box derives the keys,
// asks every friend for the root record under the owner's public key,
// keeps the newest that verifies, opens it, fetches the index from its
// shards and restores it; every file is then readable as before, since
// the file keys are wrapped by the same phrase-derived key.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"oepc.dev/oepcos/packages/cloud/codec"
	"oepc.dev/oepcos/packages/cloud/index"
	"oepc.dev/oepcos/packages/cloud/keys"
	"oepc.dev/oepcos/packages/store"
)

const (
	maxRootBlob      = 1 << 20
	maxRootsPerPeer  = 4
	rootSignContext  = "oepc-cloud-root-v1"
	backupCheckEvery = time.Hour
)

// RootRecord is what friends keep for an owner: the sealed manifest of the
// newest index backup.
type RootRecord struct {
	Pub  []byte `json:"pub"`
	Seq  uint64 `json:"seq"`
	Blob []byte `json:"blob"`
	Sig  []byte `json:"sig"`
}

func (r *RootRecord) signed() []byte {
	var b bytes.Buffer
	b.WriteString(rootSignContext)
	b.Write(r.Pub)
	binary.Write(&b, binary.BigEndian, r.Seq)
	b.Write(r.Blob)
	return b.Bytes()
}

func signRoot(o *keys.Owner, r *RootRecord) []byte {
	return ed25519.Sign(o.SigningKey(), r.signed())
}

// Verify checks the record's shape and signature.
func (r *RootRecord) Verify() error {
	if len(r.Pub) != ed25519.PublicKeySize || len(r.Blob) > maxRootBlob || len(r.Sig) != ed25519.SignatureSize {
		return errors.New("cloud: malformed root record")
	}
	if !ed25519.Verify(ed25519.PublicKey(r.Pub), r.signed(), r.Sig) {
		return errors.New("cloud: root record signature does not verify")
	}
	return nil
}

// UnmarshalRootRecord decodes and verifies a root record.
func UnmarshalRootRecord(b []byte) (*RootRecord, error) {
	var r RootRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("cloud: root record: %w", err)
	}
	if err := r.Verify(); err != nil {
		return nil, err
	}
	return &r, nil
}

type rootReq struct {
	Op     string      `json:"op"` // "put", "get"
	Record *RootRecord `json:"record,omitempty"`
	Pub    []byte      `json:"pub,omitempty"`
}

type rootResp struct {
	reply
	Record *RootRecord `json:"record,omitempty"`
}

type keptRoot struct {
	From   peer.ID    `json:"from"`
	Record RootRecord `json:"record"`
}

func rootKey(pub []byte) []byte { return []byte(prefixRoots + hex.EncodeToString(pub)) }

func (s *Service) handleRoot(st network.Stream) {
	from := st.Conn().RemotePeer()
	st.SetDeadline(time.Now().Add(60 * time.Second))
	var req rootReq
	if err := readMsg(st, &req, 2*maxRootBlob+4096); err != nil {
		refuse(st, "bad request: "+err.Error())
		return
	}
	switch req.Op {
	case "put":
		if err := s.keepRoot(from, req.Record); err != nil {
			refuse(st, err.Error())
			return
		}
		answer(st, rootResp{reply: reply{OK: true}})
	case "get":
		var k keptRoot
		if len(req.Pub) != ed25519.PublicKeySize || store.GetJSON(s.cfg.KV, rootKey(req.Pub), &k) != nil {
			refuse(st, "no record")
			return
		}
		answer(st, rootResp{reply: reply{OK: true}, Record: &k.Record})
	default:
		refuse(st, "unknown request")
	}
}

// keepRoot stores a friend's root record if it is signed and newer. A
// friend may keep records under a few keys (it may have reset its box).
func (s *Service) keepRoot(from peer.ID, r *RootRecord) error {
	if r == nil {
		return errors.New("no record")
	}
	if err := r.Verify(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var cur keptRoot
	err := store.GetJSON(s.cfg.KV, rootKey(r.Pub), &cur)
	switch {
	case err == nil:
		if r.Seq <= cur.Record.Seq {
			return fmt.Errorf("stale record (seq %d, have %d)", r.Seq, cur.Record.Seq)
		}
	case errors.Is(err, store.ErrNotFound):
		n := 0
		s.cfg.KV.Scan([]byte(prefixRoots), func(k, v []byte) error {
			var kr keptRoot
			if json.Unmarshal(v, &kr) == nil && kr.From == from {
				n++
			}
			return nil
		})
		if n >= maxRootsPerPeer {
			return errors.New("too many records from this friend")
		}
	default:
		return err
	}
	return store.PutJSON(s.cfg.KV, rootKey(r.Pub), keptRoot{From: from, Record: *r})
}

type backupState struct {
	Seq      uint64          `json:"seq"`
	Manifest *index.Manifest `json:"manifest"`
	Pushed   int             `json:"pushed"`
}

func (s *Service) snapshot() ([]byte, error) {
	snap, err := s.ix.Snapshot()
	if err != nil {
		return nil, err
	}
	return json.Marshal(snap)
}

// Backup stores the index on friends' boxes now and pushes the new root
// record to every friend. It returns how many friends took the record.
func (s *Service) Backup(ctx context.Context) (int, error) {
	owner, err := s.Owner()
	if err != nil {
		return 0, err
	}
	if s.cfg.Host == nil {
		return 0, errors.New("cloud: no network host")
	}
	snap, err := s.snapshot()
	if err != nil {
		return 0, err
	}
	file := codec.NewFileID()
	key := codec.NewFileKey()
	force := len(s.peers()) < s.cfg.K+s.cfg.M
	man, err := s.putBlob(ctx, bytes.NewReader(snap), file, key, PutOptions{Force: force})
	if err != nil {
		return 0, fmt.Errorf("cloud: backup: %w", err)
	}
	s.dropPending(file)
	man.WrappedKey = owner.Wrap(key, file[:])
	mb, err := index.MarshalManifest(man)
	if err != nil {
		return 0, err
	}
	var prev backupState
	store.GetJSON(s.cfg.KV, keyBackup, &prev)
	seq := max(uint64(s.cfg.Clock().UnixNano()), prev.Seq+1)
	pub := owner.PublicKey()
	rec := &RootRecord{Pub: pub, Seq: seq, Blob: keys.Seal(owner.IndexKey(), mb, pub)}
	rec.Sig = signRoot(owner, rec)
	var mu sync.Mutex
	pushed := 0
	var wg sync.WaitGroup
	for _, p := range s.peers() {
		if !s.cfg.IsFriend(p) {
			continue
		}
		wg.Go(func() {
			if _, err := s.rootCall(ctx, p, rootReq{Op: "put", Record: rec}); err != nil {
				s.log.Debug("root record not taken", "peer", p, "err", err)
				return
			}
			mu.Lock()
			pushed++
			mu.Unlock()
		})
	}
	wg.Wait()
	if pushed == 0 {
		s.deleteShards(context.WithoutCancel(ctx), allRefs(man))
		return 0, errors.New("cloud: backup: no friend took the index root record")
	}
	if err := store.PutJSON(s.cfg.KV, keyBackup, backupState{Seq: seq, Manifest: man, Pushed: pushed}); err != nil {
		return pushed, err
	}
	if prev.Manifest != nil {
		s.deleteShards(context.WithoutCancel(ctx), allRefs(prev.Manifest))
	}
	s.log.Info("index backed up", "bytes", len(snap), "friends", pushed, "seq", seq)
	return pushed, nil
}

func (s *Service) rootCall(ctx context.Context, p peer.ID, req rootReq) (*RootRecord, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	st, err := s.open(ctx, p, ProtoRoot)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	st.SetDeadline(time.Now().Add(30 * time.Second))
	if err := writeMsg(st, req); err != nil {
		return nil, err
	}
	var r rootResp
	if err := readMsg(st, &r, 2*maxRootBlob+4096); err != nil {
		return nil, err
	}
	if !r.OK {
		return nil, errors.New(r.Error)
	}
	return r.Record, nil
}

// Recover restores the owner key and the file index from the recovery
// phrase and the friends' boxes. It returns the number of files restored.
func (s *Service) Recover(ctx context.Context, phrase string) (int, error) {
	secret, err := keys.ParsePhrase(phrase)
	if err != nil {
		return 0, err
	}
	owner := keys.FromSecret(secret)
	if cur := s.owner.Load(); cur != nil && cur.Secret() != secret {
		return 0, fmt.Errorf("cloud: this box already has another owner key: %w", ErrExists)
	}
	pub := owner.PublicKey()
	var mu sync.Mutex
	var best *RootRecord
	var wg sync.WaitGroup
	for _, p := range s.peers() {
		wg.Go(func() {
			r, err := s.rootCall(ctx, p, rootReq{Op: "get", Pub: pub})
			if err != nil || r == nil || r.Verify() != nil || !bytes.Equal(r.Pub, pub) {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if best == nil || r.Seq > best.Seq {
				best = r
			}
		})
	}
	wg.Wait()
	if best == nil {
		return 0, errors.New("cloud: no friend has an index backup for this phrase (are the old friends befriended again and online?)")
	}
	mb, err := keys.Open(owner.IndexKey(), best.Blob, pub)
	if err != nil {
		return 0, errors.New("cloud: the index backup does not open with this phrase")
	}
	man, err := index.UnmarshalManifest(mb)
	if err != nil {
		return 0, err
	}
	key, err := owner.Unwrap(man.WrappedKey, man.File[:])
	if err != nil {
		return 0, err
	}
	var buf bytes.Buffer
	if err := s.getBlob(ctx, man, key, &buf); err != nil {
		return 0, fmt.Errorf("cloud: fetching the index backup: %w", err)
	}
	var snap index.Snapshot
	if err := json.Unmarshal(buf.Bytes(), &snap); err != nil || snap.V != index.SnapshotVersion || len(snap.Manifests) != len(snap.Entries) {
		return 0, errors.New("cloud: index backup is malformed")
	}
	sec := owner.Secret()
	// A large index goes in several transactions (index.Restore), and
	// only the last stores the owner key and ends the recovery's record. A
	// crash leaves no key (so nothing takes the partial index for the
	// whole) and Setup refusing; recovering again rewrites every entry.
	s.mu.Lock()
	err = s.ix.Restore(&snap, best.Seq, func(b *store.Batch) error {
		b.Put(keyOwner, sec[:])
		return store.PutJSON(kvBatch{b}, keyBackup, backupState{Seq: best.Seq, Manifest: man})
	})
	if err == nil {
		s.owner.Store(owner)
	}
	s.mu.Unlock()
	if err != nil {
		return 0, err
	}
	s.log.Info("index recovered", "files", len(snap.Entries))
	return len(snap.Entries), nil
}

// kvBatch lets store.PutJSON write into a batch.
type kvBatch struct{ b *store.Batch }

func (k kvBatch) Put(key, v []byte) error                  { k.b.Put(key, v); return nil }
func (kvBatch) Get([]byte) ([]byte, error)                 { return nil, store.ErrNotFound }
func (k kvBatch) Delete(key []byte) error                  { k.b.Delete(key); return nil }
func (kvBatch) Scan([]byte, func(k, v []byte) error) error { return nil }
func (kvBatch) Batch(func(*store.Batch) error) error       { return errors.New("nested batch") }

// backupLoop backs the index up BackupDelay after it changes, and redoes
// the backup when its shards are no longer all healthy.
func (s *Service) backupLoop(ctx context.Context) {
	if s.cfg.BackupDelay < 0 || s.cfg.Host == nil {
		return
	}
	check := time.NewTicker(backupCheckEvery)
	defer check.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.indexDirty:
			select {
			case <-time.After(s.cfg.BackupDelay):
			case <-ctx.Done():
				return
			}
		case <-check.C:
			var st backupState
			if store.GetJSON(s.cfg.KV, keyBackup, &st) == nil && st.Manifest != nil && s.check(ctx, st.Manifest).Complete {
				continue
			}
		}
		if s.owner.Load() == nil {
			continue
		}
		if _, err := s.Backup(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("index backup failed", "err", err)
		}
	}
}

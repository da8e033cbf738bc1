package cloud

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"oepc.dev/oepcos/packages/cloud/codec"
	"oepc.dev/oepcos/packages/cloud/index"
	"oepc.dev/oepcos/packages/store"
	"oepc.dev/oepcos/packages/wire"
)

// Deliveries are unsolicited, so each friend has a quota of pending
// deliveries: what it has delivered that the owner has not dealt with yet.
// A delivery is pending from the moment it is stored in /Received until
// the owner has looked at it (fetched it with a get) or it has left
// /Received (moved out, removed, or replaced by another file). A delivery
// that would take a friend's pending bytes over its quota, or its pending
// files over maxPendingDeliveries, is refused, and the sender is told why.
// The owner sets the quota per friend and a default for every friend.

// DefaultDeliveryQuota is the default quota of pending deliveries per
// friend.
const DefaultDeliveryQuota = 1 << 30

// maxPendingDeliveries bounds a friend's pending files (index entries cost
// memory and disk whatever their size).
const maxPendingDeliveries = 1000

var keyInboxDefault = []byte("cloud/inbox/default-quota")

const (
	prefixInboxQuota = "cloud/inbox/quota/" // + friend's peer ID → quota in bytes
	prefixInboxFrom  = "cloud/inbox/from/"  // + friend's peer ID + "/" + file ID → deliveryRecord
)

type deliveryRecord struct {
	Size int64     `json:"size"`
	At   time.Time `json:"at"`
}

func inboxKey(from peer.ID, f codec.FileID) []byte {
	return []byte(prefixInboxFrom + from.String() + "/" + f.String())
}

// inbox counts deliveries under way, per friend, so that concurrent ones
// cannot pass a quota together.
type inbox struct {
	mu       sync.Mutex
	inflight map[peer.ID]*inflight
}

type inflight struct {
	bytes int64
	files int
}

// quotaError is a delivery over the sender's quota; its text is for the
// sender.
type quotaError struct {
	quota, pending int64
	files          bool
}

func (q *quotaError) Error() string {
	switch {
	case q.files:
		return fmt.Sprintf("it would exceed the %d pending deliveries it accepts from you (its owner has not yet looked at the ones before)", maxPendingDeliveries)
	case q.quota == 0:
		return "it accepts no deliveries from you"
	}
	return fmt.Sprintf("it would exceed the %s of pending deliveries it accepts from you (%s pending: delivered, and not yet looked at or moved out of /Received by its owner)",
		humanBytes(q.quota), humanBytes(q.pending))
}

// DeliveryQuota is friend's quota of pending deliveries and whether it is
// friend's own (false: the default). With friend "" it is the default.
func (s *Service) DeliveryQuota(friend peer.ID) (q int64, own bool) {
	if friend == "" {
		return s.defaultDeliveryQuota(), false
	}
	var v int64
	if store.GetJSON(s.cfg.KV, []byte(prefixInboxQuota+friend.String()), &v) == nil {
		return v, true
	}
	return s.defaultDeliveryQuota(), false
}

func (s *Service) defaultDeliveryQuota() int64 {
	var v int64
	if store.GetJSON(s.cfg.KV, keyInboxDefault, &v) == nil {
		return v
	}
	return DefaultDeliveryQuota
}

// SetDeliveryQuota sets friend's quota of pending deliveries, or with
// friend "" the default for every friend without a quota of its own. A
// negative quota removes friend's own (it gets the default again).
func (s *Service) SetDeliveryQuota(friend peer.ID, bytes int64) error {
	key := keyInboxDefault
	if friend != "" {
		key = []byte(prefixInboxQuota + friend.String())
	}
	if bytes < 0 {
		if friend == "" {
			return fmt.Errorf("%w: a negative default quota", ErrBadPath)
		}
		return s.cfg.KV.Delete(key)
	}
	return store.PutJSON(s.cfg.KV, key, bytes)
}

// pendingFrom sums friend's pending deliveries and forgets those no longer
// pending.
func (s *Service) pendingFrom(from peer.ID) (bytes int64, files int, err error) {
	inReceived := map[codec.FileID]bool{}
	received, err := s.ix.FilesIn(ReceivedDir)
	if err != nil {
		return 0, 0, err
	}
	for _, e := range received {
		inReceived[e.File] = true
	}
	prefix := []byte(prefixInboxFrom + from.String() + "/")
	var stale [][]byte
	err = s.cfg.KV.Scan(prefix, func(k, v []byte) error {
		var r deliveryRecord
		f, perr := codec.ParseFileID(string(k[len(prefix):]))
		if perr != nil || json.Unmarshal(v, &r) != nil || !inReceived[f] {
			stale = append(stale, slices.Clone(k))
			return nil
		}
		bytes += r.Size
		files++
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	if len(stale) > 0 {
		s.cfg.KV.Batch(func(b *store.Batch) error {
			for _, k := range stale {
				b.Delete(k)
			}
			return nil
		})
	}
	return bytes, files, nil
}

// reservation holds a delivery's place in its sender's quota while it
// arrives.
type reservation struct {
	ib      *inbox
	from    peer.ID
	quota   int64
	pending int64 // stored, at the start
	known   bool  // the size was announced and reserved up front
	bytes   int64 // reserved
}

// reserve admits a delivery of size bytes (-1: unknown, counted as it
// arrives) from friend from, or says why not.
func (ib *inbox) reserve(s *Service, from peer.ID, size int64) (*reservation, error) {
	ib.mu.Lock()
	defer ib.mu.Unlock()
	quota, _ := s.DeliveryQuota(from)
	pending, files, err := s.pendingFrom(from)
	if err != nil {
		return nil, fmt.Errorf("internal error: %w", err)
	}
	in := ib.inflight[from]
	if in == nil {
		in = &inflight{}
	}
	if files+in.files+1 > maxPendingDeliveries {
		return nil, &quotaError{files: true}
	}
	if quota == 0 || (size >= 0 && pending+in.bytes+size > quota) {
		return nil, &quotaError{quota: quota, pending: pending + in.bytes}
	}
	r := &reservation{ib: ib, from: from, quota: quota, pending: pending, known: size >= 0, bytes: max(size, 0)}
	in.bytes += r.bytes
	in.files++
	ib.inflight[from] = in
	return r, nil
}

// add counts n more bytes of a delivery of unknown size.
func (r *reservation) add(n int) error {
	if r.known || n == 0 {
		return nil
	}
	r.ib.mu.Lock()
	defer r.ib.mu.Unlock()
	in := r.ib.inflight[r.from]
	if r.pending+in.bytes+int64(n) > r.quota {
		return &quotaError{quota: r.quota, pending: r.pending + in.bytes - r.bytes}
	}
	in.bytes += int64(n)
	r.bytes += int64(n)
	return nil
}

func (r *reservation) release() {
	r.ib.mu.Lock()
	defer r.ib.mu.Unlock()
	in := r.ib.inflight[r.from]
	in.bytes -= r.bytes
	if in.files--; in.files <= 0 {
		delete(r.ib.inflight, r.from)
	}
}

// delivered records a stored delivery as pending.
func (ib *inbox) delivered(s *Service, from peer.ID, e *index.Entry) {
	if err := store.PutJSON(s.cfg.KV, inboxKey(from, e.File), deliveryRecord{Size: e.Size, At: s.cfg.Clock()}); err != nil {
		s.log.Warn("recording a delivery", "from", from, "path", e.Path, "err", err)
	}
}

// MarkLookedAt records that the owner has fetched file f (the local API's
// get does this after a whole file has gone out): a delivery of f is no
// longer pending and leaves its sender's quota.
func (s *Service) MarkLookedAt(f codec.FileID) {
	suffix := "/" + f.String()
	var keys [][]byte
	s.cfg.KV.Scan([]byte(prefixInboxFrom), func(k, _ []byte) error {
		if strings.HasSuffix(string(k), suffix) {
			keys = append(keys, slices.Clone(k))
		}
		return nil
	})
	for _, k := range keys {
		s.cfg.KV.Delete(k)
	}
}

// countedBody counts a delivery's bytes against its sender's quota as
// they arrive.
type countedBody struct {
	r   *wire.ChunkReader
	res *reservation
}

func (c *countedBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if qerr := c.res.add(n); qerr != nil {
		return n, qerr
	}
	return n, err
}

// FriendDeliveries is one friend's line in the deliveries report.
type FriendDeliveries struct {
	Friend       peer.ID `json:"friend"`
	Quota        int64   `json:"quota"`
	OwnQuota     bool    `json:"own_quota"` // false: the default
	PendingFiles int     `json:"pending_files"`
	PendingBytes int64   `json:"pending_bytes"`
}

// Deliveries reports the default quota and every friend with pending
// deliveries or a quota of its own.
func (s *Service) Deliveries() (int64, []FriendDeliveries, error) {
	seen := map[peer.ID]bool{}
	var friends []peer.ID
	for _, prefix := range []string{prefixInboxFrom, prefixInboxQuota} {
		err := s.cfg.KV.Scan([]byte(prefix), func(k, _ []byte) error {
			id, _, _ := strings.Cut(string(k[len(prefix):]), "/")
			if p, err := peer.Decode(id); err == nil && !seen[p] {
				seen[p] = true
				friends = append(friends, p)
			}
			return nil
		})
		if err != nil {
			return 0, nil, err
		}
	}
	out := []FriendDeliveries{}
	for _, p := range friends {
		b, n, err := s.pendingFrom(p)
		if err != nil {
			return 0, nil, err
		}
		q, own := s.DeliveryQuota(p)
		if n == 0 && !own {
			continue
		}
		out = append(out, FriendDeliveries{Friend: p, Quota: q, OwnQuota: own, PendingFiles: n, PendingBytes: b})
	}
	return s.defaultDeliveryQuota(), out, nil
}

// humanBytes says n in binary units: "1 GiB", "1.5 MiB", "512 B".
func humanBytes(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	v, i := float64(n), 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d %s", int64(v), units[i])
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}

// Package cloud is the owner side of the personal cloud: it turns files
// into encrypted, erasure-coded, content-addressed shards placed on
// friends' boxes (put), brings them back from any k shards per segment
// (get), keeps the file index (folders, rename, move, delete), checks and
// repairs the shards' health, backs the index up to friends so that the
// recovery phrase alone brings it back on a new box, delivers files to
// friends and shares files with them.
//
// The holder side (storing shards for others) is packages/shard; this
// package reaches holders through the Holders interface. The file index
// itself (entries, folders, manifests in the KV) is packages/cloud/index,
// which the Service's index methods front. The cloud's part of the box's
// local HTTP API (API.md) is packages/cloud/cloudapi, which serves a
// Service; this package has no HTTP code.
package cloud

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"oepc.dev/oepcos/packages/cloud/codec"
	"oepc.dev/oepcos/packages/cloud/index"
	"oepc.dev/oepcos/packages/cloud/keys"
	"oepc.dev/oepcos/packages/store"
)

// Holders stores and fetches shards on other boxes (packages/shard's
// Client, adapted). Every call must honour ctx's deadline.
type Holders interface {
	Put(ctx context.Context, p peer.ID, id codec.ShardID, data []byte) error
	// Get returns the shard, read into dst when its capacity suffices (the
	// result then aliases dst), verified against id: bytes that do not
	// hash to id are an error wrapping codec.ErrBadShard. (Hashing once,
	// where the bytes arrive, spares a get a second pass over the file.)
	Get(ctx context.Context, p peer.ID, id codec.ShardID, dst []byte) ([]byte, error)
	Has(ctx context.Context, p peer.ID, ids []codec.ShardID) ([]bool, error)
	Delete(ctx context.Context, p peer.ID, id codec.ShardID) error
}

// shardLister is implemented by Holders that can list what a holder keeps
// for the owner (ShardHolders); the reconcile needs it.
type shardLister interface {
	List(ctx context.Context, p peer.ID, from codec.ShardID, limit int) ([]HeldShard, error)
}

// HeldShard is a shard a holder keeps for the owner, and how long it has.
type HeldShard struct {
	ID  codec.ShardID
	Age time.Duration
}

// grantGetter is implemented by Holders that can fetch against a share's
// grant from holders that are not this box's friends (ShardHolders).
type grantGetter interface {
	GetGranted(ctx context.Context, p peer.ID, grant []byte, ids []codec.ShardID, i int, dst []byte) ([]byte, error)
}

// HostedLister reports the shards this box holds for others (the shard
// store); optional.
type HostedLister interface {
	Hosted(ctx context.Context) (any, error)
}

// Config wires a Service. Host, IsFriend and Hosted are optional: without
// a Host there is no send, share or index backup to friends.
type Config struct {
	Host    host.Host
	Holders Holders
	// Peers returns the boxes that may hold shards: the friends, and the
	// box itself if Holders can reach its own store.
	Peers func() []peer.ID
	// Friends returns every friend, online or not (optional): a put cut
	// off by a crash before it recorded a shard's holder is deleted from
	// each of them.
	Friends func() []peer.ID
	// IsFriend gates the deliver, share and index-root protocols.
	IsFriend func(peer.ID) bool
	KV       store.KV
	// Dir is scratch space (unused so far: the pipeline streams).
	Dir    string
	Owner  *keys.Owner // nil: loaded from the KV, or set up later
	Logger *slog.Logger
	Clock  func() time.Time
	Hosted HostedLister
	// ResolveFriend turns a friend's name or peer ID into a peer ID;
	// default: peer IDs only.
	ResolveFriend func(string) (peer.ID, error)
	// HolderName is what health reports call a holder: the friend's name,
	// "this box" for the box itself; "" for none (the default).
	HolderName func(peer.ID) string

	SegmentSize int // default codec.DefaultSegmentSize
	K, M        int // default 4+2
	InFlight    int // segments in flight per put; default 4
	// GetInFlight is how many segments a get fetches at once (default 3:
	// twelve shard reads for 4+2 keep every holder busy; more only queue
	// on the holders' disks and stretch each segment's wait).
	GetInFlight int
	// GetSpare is how many shards beside k a get asks for up front
	// (default 0); HedgeDelay is the least time before a late shard is
	// hedged by asking another holder (default 100ms; the delay is at
	// least twice the holders' usual answer time).
	GetSpare    int
	HedgeDelay  time.Duration
	CallTimeout time.Duration // per shard call; default 2m
	// RepairInterval is how often the repair loop runs; 0 means 10m,
	// negative disables it.
	RepairInterval time.Duration
	// RepairThreshold: a segment with fewer healthy shards has every
	// unhealthy one rebuilt, absent holders' included; 0 means
	// k + ceil(m/2) (see threshold in health.go).
	RepairThreshold int
	// RepairGrace is how long a holder may be unreachable before its
	// shards are re-placed anyway; 0 means 24h.
	RepairGrace time.Duration
	// BackupDelay is how long after an index change the index backup
	// runs; 0 means 30s, negative disables it.
	BackupDelay time.Duration
	// MaxDeliverSize bounds a file a friend may deliver; default 16 GiB.
	MaxDeliverSize int64
	// ShareGrantTTL is how long a share's grant lets the friend fetch
	// from the holders while this box is off (default 30 days; a get
	// through this box renews it).
	ShareGrantTTL time.Duration
	// ReconcileInterval is how often the shards holders keep for the owner
	// are compared with the index, and the unreferenced ones deleted (0:
	// 6h, negative: never); ReconcileMinAge spares shards stored more
	// recently than that (default 1h), so a repair or backup between
	// placing its shards and recording them is never undone.
	ReconcileInterval time.Duration
	ReconcileMinAge   time.Duration
}

// Errors.
var (
	ErrNoKey       = errors.New("cloud: no owner key: set up the cloud (oepc cloud setup) or recover it from the phrase")
	ErrTooFewBoxes = errors.New("cloud: too few boxes to place every shard of a segment on a different box")
	ErrUnavailable = errors.New("cloud: not enough shards reachable")
	// The index's errors (packages/cloud/index), under their cloud names.
	ErrNotFound = index.ErrNotFound
	ErrExists   = index.ErrExists
	ErrNotEmpty = index.ErrNotEmpty
	ErrBadPath  = index.ErrBadPath
)

// Service is the personal cloud engine of one box.
type Service struct {
	cfg   Config
	log   *slog.Logger
	owner atomic.Pointer[keys.Owner]

	// ix is the file index; it serializes its own writes.
	ix *index.Index
	// mu serializes the owner key's setup and recovery and the records
	// kept for friends (roots, received shares). Who holds it and calls
	// into the index takes it first (Recover).
	mu sync.Mutex

	stats peerStats
	bufs  *segmentBuffers

	hmu       sync.Mutex
	corrupt   map[codec.ShardID]peer.ID // shards a get found corrupt, until repaired
	repairing map[codec.ShardID]bool
	// absent: holders found unreachable, since when (see noteAbsences).
	absent     map[peer.ID]time.Time
	absentOnce sync.Once

	kick       chan struct{} // wakes the repair loop
	indexDirty chan struct{} // wakes the backup loop
	deleteKick chan struct{} // wakes the deletion queue
	undeletedN atomic.Int64  // records in the deletion queue

	fp *friendProtos // the friend protocols' limits and the delivery quotas
}

// New returns a Service. It loads the owner key from the KV unless given
// one, and registers the friend protocols on cfg.Host.
func New(cfg Config) (*Service, error) {
	if cfg.KV == nil || cfg.Holders == nil || cfg.Peers == nil {
		return nil, errors.New("cloud: Config needs KV, Holders and Peers")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.IsFriend == nil {
		cfg.IsFriend = func(peer.ID) bool { return false }
	}
	if cfg.SegmentSize == 0 {
		cfg.SegmentSize = codec.DefaultSegmentSize
	}
	if cfg.K == 0 {
		cfg.K, cfg.M = codec.DefaultK, codec.DefaultM
	}
	if cfg.InFlight <= 0 {
		cfg.InFlight = 4
	}
	if cfg.GetInFlight <= 0 {
		cfg.GetInFlight = 3
	}
	if cfg.GetSpare < 0 {
		cfg.GetSpare = 0
	}
	if cfg.HedgeDelay <= 0 {
		cfg.HedgeDelay = 100 * time.Millisecond
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 2 * time.Minute
	}
	if cfg.RepairInterval == 0 {
		cfg.RepairInterval = 10 * time.Minute
	}
	if cfg.BackupDelay == 0 {
		cfg.BackupDelay = 30 * time.Second
	}
	if cfg.MaxDeliverSize <= 0 {
		cfg.MaxDeliverSize = 16 << 30
	}
	if cfg.ShareGrantTTL <= 0 {
		cfg.ShareGrantTTL = 30 * 24 * time.Hour
	}
	if cfg.ReconcileInterval == 0 {
		cfg.ReconcileInterval = 6 * time.Hour
	}
	if cfg.ReconcileMinAge == 0 {
		cfg.ReconcileMinAge = time.Hour
	}
	if cfg.SegmentSize < codec.MinSegmentSize || cfg.SegmentSize > codec.MaxSegmentSize {
		return nil, fmt.Errorf("cloud: segment size %d out of range", cfg.SegmentSize)
	}
	if err := codec.CheckParams(cfg.K, cfg.M); err != nil {
		return nil, err
	}
	s := &Service{
		cfg:        cfg,
		log:        cfg.Logger,
		corrupt:    map[codec.ShardID]peer.ID{},
		repairing:  map[codec.ShardID]bool{},
		kick:       make(chan struct{}, 1),
		indexDirty: make(chan struct{}, 1),
		deleteKick: make(chan struct{}, 1),
		bufs:       &segmentBuffers{max: cfg.InFlight},
		fp:         newFriendProtos(),
	}
	s.ix = index.New(index.Config{KV: cfg.KV, Changed: s.dirty, Logger: cfg.Logger})
	s.stats.m = map[peer.ID]*peerStat{}
	if sh, ok := s.cfg.Holders.(ShardHolders); ok && sh.Key == nil {
		sh.Key = s.signingKey
		s.cfg.Holders = sh
	}
	if cfg.Owner != nil {
		s.owner.Store(cfg.Owner)
	} else if b, err := cfg.KV.Get(keyOwner); err == nil && len(b) == keys.SecretSize {
		s.owner.Store(keys.FromSecret([keys.SecretSize]byte(b)))
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("cloud: load owner key: %w", err)
	}
	// Finish what a crash cut off before anything reads the index.
	if err := s.ix.FinishMove(); err != nil {
		return nil, fmt.Errorf("cloud: finishing an interrupted move: %w", err)
	}
	if s.ix.Recovering() {
		s.log.Warn("a recovery was interrupted and the index is incomplete: run cloud recover again")
	}
	if cfg.Host != nil {
		s.registerProtocols()
	}
	return s, nil
}

// Close unregisters the protocols.
func (s *Service) Close() error {
	if s.cfg.Host != nil {
		s.unregisterProtocols()
	}
	return nil
}

// Run runs the background work (clean-up of interrupted puts, the
// deletion queue, the repair loop, the index backup loop and the
// reconcile) until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	s.cleanupPending(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { s.deleteLoop(ctx) })
	wg.Go(func() { s.repairLoop(ctx) })
	wg.Go(func() { s.backupLoop(ctx) })
	wg.Go(func() { s.reconcileLoop(ctx) })
	wg.Wait()
	return nil
}

// KV keys owned by this package (beside the index's, cloud/meta,
// cloud/dir, cloud/man/, cloud/moving and cloud/recovering: see
// packages/cloud/index).
var (
	keyOwner      = []byte("cloud/owner")
	prefixPending = "cloud/pending/" // + file ID + "/" + segment → pendingPut
	prefixShared  = "cloud/shared/"  // + owner peer ID + "/" + token ID → received share
	prefixRoots   = "cloud/roots/"   // + owner public key → root record kept for a friend
	keyBackup     = []byte("cloud/backup")
)

// signingKey is the owner's signing key, nil before setup: the key shards
// belong to.
func (s *Service) signingKey() ed25519.PrivateKey {
	if o := s.owner.Load(); o != nil {
		return o.SigningKey()
	}
	return nil
}

// Owner returns the owner's keys or ErrNoKey.
func (s *Service) Owner() (*keys.Owner, error) {
	o := s.owner.Load()
	if o == nil {
		return nil, ErrNoKey
	}
	return o, nil
}

// fileKey unwraps, with the owner's key, the key of the file man describes.
func (s *Service) fileKey(man *index.Manifest) ([]byte, error) {
	owner, err := s.Owner()
	if err != nil {
		return nil, err
	}
	return owner.Unwrap(man.WrappedKey, man.File[:])
}

// Setup creates the owner key and returns its recovery phrase; the phrase
// is never shown again. It fails if a key exists.
func (s *Service) Setup() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.owner.Load() != nil {
		return "", fmt.Errorf("cloud: owner key already set up: %w", ErrExists)
	}
	if s.ix.Recovering() {
		return "", fmt.Errorf("cloud: a recovery was cut off and left part of an index: run recover again with the phrase: %w", ErrExists)
	}
	o := keys.New()
	sec := o.Secret()
	if err := s.cfg.KV.Put(keyOwner, sec[:]); err != nil {
		return "", err
	}
	s.owner.Store(o)
	return o.Phrase(), nil
}

// ResolveFriend turns a friend's name or peer ID into its peer ID
// (Config.ResolveFriend; without one, peer IDs only). An unknown friend is
// an error wrapping ErrNotFound.
func (s *Service) ResolveFriend(name string) (peer.ID, error) {
	if s.cfg.ResolveFriend != nil {
		return s.cfg.ResolveFriend(name)
	}
	p, err := peer.Decode(name)
	if err != nil {
		return "", fmt.Errorf("%w: unknown friend %q", ErrNotFound, name)
	}
	return p, nil
}

// Hosted reports the shards this box keeps for friends (Config.Hosted);
// ok is false when the service has no shard store to ask.
func (s *Service) Hosted(ctx context.Context) (v any, ok bool, err error) {
	if s.cfg.Hosted == nil {
		return nil, false, nil
	}
	v, err = s.cfg.Hosted.Hosted(ctx)
	return v, true, err
}

// Logger is the service's logger (Config.Logger), for the code that serves
// it.
func (s *Service) Logger() *slog.Logger { return s.log }

// Status is the cloud's summary.
type Status struct {
	OwnerKey   bool   `json:"owner_key"`
	Boxes      int    `json:"boxes"`
	Files      int    `json:"files"`
	Bytes      int64  `json:"bytes"`
	K          int    `json:"k"`
	M          int    `json:"m"`
	BackupSeq  uint64 `json:"backup_seq,omitempty"`
	BackupHeld int    `json:"backup_friends,omitempty"`
}

// SegmentSize is the plaintext bytes of each segment of a put (the last
// may be shorter): a file of n bytes has max(1, ⌈n/SegmentSize⌉).
func (s *Service) SegmentSize() int { return s.cfg.SegmentSize }

// Status summarizes the cloud.
func (s *Service) Status() Status {
	st := Status{OwnerKey: s.owner.Load() != nil, Boxes: len(s.peers()), K: s.cfg.K, M: s.cfg.M}
	if files, err := s.Files(); err == nil {
		st.Files = len(files)
		for _, f := range files {
			st.Bytes += f.Size
		}
	}
	var b backupState
	if s.cfg.KV != nil {
		if raw, err := s.cfg.KV.Get(keyBackup); err == nil && json.Unmarshal(raw, &b) == nil {
			st.BackupSeq, st.BackupHeld = b.Seq, b.Pushed
		}
	}
	return st
}

func (s *Service) peers() []peer.ID {
	var out []peer.ID
	for _, p := range s.cfg.Peers() {
		if p != "" && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

func (s *Service) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.cfg.CallTimeout)
}

// peerStats keeps a latency estimate per holder so gets ask the fastest
// first and placements avoid boxes that keep failing.
type peerStats struct {
	mu sync.Mutex
	m  map[peer.ID]*peerStat
}

type peerStat struct {
	ewma  time.Duration
	fails int
}

func (ps *peerStats) ok(p peer.ID, d time.Duration) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	st := ps.m[p]
	if st == nil {
		st = &peerStat{ewma: d}
		ps.m[p] = st
	}
	st.ewma = (st.ewma*3 + d) / 4
	st.fails = 0
}

func (ps *peerStats) fail(p peer.ID) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	st := ps.m[p]
	if st == nil {
		st = &peerStat{}
		ps.m[p] = st
	}
	st.fails++
}

// score orders holders: lower is better. Unknown holders rank as 50 ms so
// they get tried and measured.
func (ps *peerStats) score(p peer.ID) time.Duration {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	st := ps.m[p]
	if st == nil {
		return 50 * time.Millisecond
	}
	return st.ewma + time.Duration(st.fails)*time.Second
}

func (s *Service) markCorrupt(id codec.ShardID, p peer.ID) {
	s.hmu.Lock()
	s.corrupt[id] = p
	s.hmu.Unlock()
	s.kickRepair()
}

func (s *Service) isCorrupt(id codec.ShardID, p peer.ID) bool {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	q, ok := s.corrupt[id]
	return ok && q == p
}

func (s *Service) kickRepair() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *Service) dirty() {
	select {
	case s.indexDirty <- struct{}{}:
	default:
	}
}

// every runs pass each interval, and whenever kick fires (a nil kick never
// does), until ctx ends; a negative interval turns the loop off.
func every(ctx context.Context, interval time.Duration, kick <-chan struct{}, pass func()) {
	if interval < 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-kick:
		}
		pass()
	}
}

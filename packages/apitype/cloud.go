package apitype

import "time"

// The personal cloud's routes (packages/cloud/API.md).

// Entry is a stored file: the answer of put and stat.
type Entry struct {
	Path    string    `json:"path"`
	ID      string    `json:"id"` // file ID, 32 hex digits
	Size    int64     `json:"size"`
	K       int       `json:"k"`
	M       int       `json:"m"`
	Created time.Time `json:"created"`
}

// Item is one name in a folder.
type Item struct {
	Name    string    `json:"name"`
	Path    string    `json:"path"`
	Dir     bool      `json:"dir"`
	Size    int64     `json:"size,omitempty"`
	ID      string    `json:"id,omitempty"`
	Created time.Time `json:"created,omitzero"`
}

// Listing is the answer of GET /v1/cloud/ls?dir=D[&offset=N&limit=N]: the
// items of the window asked for (all of them without limit), in name
// order. Total counts the folder's items; Next is the offset of the next
// window, 0 when this one is the last.
type Listing struct {
	Dir    string `json:"dir"`
	Items  []Item `json:"items"`
	Total  int    `json:"total"`
	Offset int    `json:"offset"`
	Next   int    `json:"next,omitempty"`
}

// MkdirRequest is the body of POST /v1/cloud/mkdir.
type MkdirRequest struct {
	Path string `json:"path"`
}

// PathAnswer names the path an operation ended at (mkdir, mv).
type PathAnswer struct {
	Path string `json:"path"`
}

// MoveRequest is the body of POST /v1/cloud/mv.
type MoveRequest struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// RemoveRequest is the body of POST /v1/cloud/rm.
type RemoveRequest struct {
	Path      string `json:"path"`
	Recursive bool   `json:"recursive"`
}

// RemoveAnswer is the answer of POST /v1/cloud/rm.
type RemoveAnswer struct {
	RemovedFiles int `json:"removed_files"`
}

// Shard states in a health report.
const (
	ShardOK          = "ok"
	ShardMissing     = "missing"
	ShardUnreachable = "unreachable"
	ShardCorrupt     = "corrupt"
	ShardRepairing   = "repairing"
	ShardUnplaced    = "unplaced"
)

// Health is the answer of GET /v1/cloud/health: the shard map of a file,
// segments × shards.
type Health struct {
	ID         string          `json:"id"`
	Path       string          `json:"path,omitempty"`
	Size       int64           `json:"size"`
	K          int             `json:"k"`
	M          int             `json:"m"`
	Segments   []SegmentHealth `json:"segments"`
	MinHealthy int             `json:"min_healthy"` // fewest healthy shards of any segment
	Readable   bool            `json:"readable"`    // every segment has k healthy shards
	Complete   bool            `json:"complete"`    // every segment has all k+m
	// Shards counts the shards of the file per state ("ok", "repairing",
	// ...): the repair's progress is Shards["repairing"] going to 0 and
	// Shards["ok"] reaching (k+m) × segments.
	Shards map[string]int `json:"shards,omitempty"`
}

// SegmentHealth is one segment's shards.
type SegmentHealth struct {
	Index   int           `json:"index"`
	Healthy int           `json:"healthy"`
	Shards  []ShardHealth `json:"shards"`
}

// ShardHealth is one shard on its holder.
type ShardHealth struct {
	Index  int    `json:"index"`
	ID     string `json:"id"`
	Holder PeerID `json:"holder,omitempty"`
	Name   string `json:"name,omitempty"` // the friend's name, or "this box"
	State  string `json:"state"`
}

// RepairRequest is the body of POST /v1/cloud/repair (Path "" repairs
// every file).
type RepairRequest struct {
	Path string `json:"path,omitempty"`
}

// RepairReport is the answer of POST /v1/cloud/repair.
type RepairReport struct {
	Files    int `json:"files"`
	Repaired int `json:"repaired_shards"`
	Failed   int `json:"failed_shards"`
}

// ShareRequest is the body of POST /v1/cloud/share.
type ShareRequest struct {
	Path   string `json:"path"`
	Friend string `json:"friend"` // name or peer ID
}

// ShareAnswer is the answer of POST /v1/cloud/share.
type ShareAnswer struct {
	Address string `json:"address"`
	Friend  PeerID `json:"friend"`
}

// SendAnswer is the answer of POST /v1/send.
type SendAnswer struct {
	Friend PeerID `json:"friend"`
	Path   string `json:"path"` // where it landed in the friend's cloud
}

// Hosted is the answer of GET /v1/cloud/hosted: "Hosted for others".
type Hosted struct {
	Used   int64         `json:"used"`
	Quota  int64         `json:"quota"`
	Owners []HostedOwner `json:"owners"`
	Own    HostedOwn     `json:"own"`
}

// HostedOwner is what this box keeps for one owner key.
type HostedOwner struct {
	Owner   string      `json:"owner"` // owner key, hex
	Shards  int         `json:"shards"`
	Bytes   int64       `json:"bytes"`
	Since   time.Time   `json:"since"`
	Boxes   []HostedBox `json:"boxes,omitempty"`
	EvictAt time.Time   `json:"evict_at,omitzero"` // set once none of Boxes is a friend
}

// HostedBox is one of an owner's boxes, by the name this box gave it.
type HostedBox struct {
	Peer PeerID `json:"peer"`
	Name string `json:"name,omitempty"`
}

// HostedOwn is this box's own shards, counted in Used.
type HostedOwn struct {
	Shards int   `json:"shards"`
	Bytes  int64 `json:"bytes"`
}

// CloudStatus is the answer of GET /v1/cloud/status.
type CloudStatus struct {
	OwnerKey   bool   `json:"owner_key"`
	Boxes      int    `json:"boxes"`
	Files      int    `json:"files"`
	Bytes      int64  `json:"bytes"`
	K          int    `json:"k"`
	M          int    `json:"m"`
	BackupSeq  uint64 `json:"backup_seq,omitempty"`
	BackupHeld int    `json:"backup_friends,omitempty"`
}

// SetupAnswer is the answer of POST /v1/cloud/setup: the recovery
// phrase, shown this once.
type SetupAnswer struct {
	Phrase string `json:"phrase"`
	Note   string `json:"note"`
}

// RecoverRequest is the body of POST /v1/cloud/recover.
type RecoverRequest struct {
	Phrase string `json:"phrase"`
}

// RecoverAnswer is the answer of POST /v1/cloud/recover.
type RecoverAnswer struct {
	Files int `json:"files"`
}

// BackupAnswer is the answer of POST /v1/cloud/backup.
type BackupAnswer struct {
	Friends int `json:"friends"`
}

// Received is the answer of GET /v1/cloud/received.
type Received struct {
	DefaultQuota int64              `json:"default_quota"`
	Friends      []FriendDeliveries `json:"friends"`
}

// FriendDeliveries is one friend's pending deliveries and quota.
type FriendDeliveries struct {
	Friend       PeerID `json:"friend"`
	Quota        int64  `json:"quota"`
	OwnQuota     bool   `json:"own_quota"` // false: the default
	PendingFiles int    `json:"pending_files"`
	PendingBytes int64  `json:"pending_bytes"`
}

// QuotaRequest is the body of POST /v1/cloud/received/quota: Bytes for a
// friend (or, without Friend, the default), or Default to give a friend
// the default back.
type QuotaRequest struct {
	Friend  string `json:"friend,omitempty"`
	Bytes   *int64 `json:"bytes,omitempty"`
	Default bool   `json:"default,omitempty"`
}

// QuotaAnswer is the answer of POST /v1/cloud/received/quota.
type QuotaAnswer struct {
	Friend PeerID `json:"friend,omitempty"`
	Quota  int64  `json:"quota"`
}

// Transfer kinds and states.
const (
	TransferPut  = "put"
	TransferSend = "send"

	TransferRunning = "running"
	TransferDone    = "done"
	TransferFailed  = "failed"
)

// Transfer is an upload under way (or just ended) as the box sees it: a
// put or send started with ?transfer=ID, visible at
// GET /v1/cloud/transfers/{id} and as events on
// GET /v1/cloud/transfers/events (server-sent events, type "transfer").
//
// Received counts the bytes read from the request; a put's
// SegmentsSealed and SegmentsPlaced count its segments encrypted and
// erasure-coded, and those whose every shard is stored on its holder;
// Placed counts the file's bytes in placed segments. A put's progress is
// Placed of Total; it is done once its manifest is committed.
type Transfer struct {
	ID             string    `json:"id"`
	Kind           string    `json:"kind"`
	Path           string    `json:"path"` // put: the cloud path; send: the file name
	Friend         string    `json:"friend,omitempty"`
	State          string    `json:"state"`
	Total          int64     `json:"total"` // -1: not known (no Content-Length)
	Received       int64     `json:"received"`
	SegmentsTotal  int       `json:"segments_total,omitempty"` // 0: not known
	SegmentsSealed int       `json:"segments_sealed"`
	SegmentsPlaced int       `json:"segments_placed"`
	Placed         int64     `json:"placed"`
	Started        time.Time `json:"started"`
	Ended          time.Time `json:"ended,omitzero"`
	Error          string    `json:"error,omitempty"`
	Status         int       `json:"status,omitempty"`  // the HTTP status the request ended with
	Entry          *Entry    `json:"entry,omitempty"`   // a finished put
	SentTo         string    `json:"sent_to,omitempty"` // a finished send: the path at the friend
}

// Transfers is the answer of GET /v1/cloud/transfers.
type Transfers struct {
	Transfers []Transfer `json:"transfers"`
}

// TransferEvent is the server-sent event type of a transfer's progress.
const TransferEvent = "transfer"

// ReceivedDir is the folder where friends' deliveries land.
const ReceivedDir = "/Received"

// DefaultInviteTTL is how long an invite lasts when the request names no
// TTL.
const DefaultInviteTTL = 15 * time.Minute

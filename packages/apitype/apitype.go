// Package apitype holds the request and answer types of the box's local
// API (see the README and packages/cloud/API.md): what oepcd's handlers
// answer with, and what the typed client (packages/localapi), the `oepc`
// command line, the web UI and the tests decode. It imports nothing but the
// standard library, so a client of the box links neither libp2p nor
// badger (Tailscale keeps its client/tailscale/apitype apart the same way).
//
// Peer IDs, file IDs and shard IDs are their text forms (base58 and hex),
// exactly as the box's own types marshal them.
package apitype

import "time"

// PeerID is a libp2p peer ID in its text form.
type PeerID string

func (p PeerID) String() string { return string(p) }

// Error is the JSON body of every failed request.
type Error struct {
	Error string `json:"error"`
}

// Status is the answer of GET /v1/status.
type Status struct {
	Name             string         `json:"name"`
	Version          string         `json:"version"`
	PeerID           string         `json:"peer_id"`
	Uptime           string         `json:"uptime"`
	Network          NetworkStats   `json:"network"`
	Friends          []FriendStatus `json:"friends"`
	FriendsConnected int            `json:"friends_connected"`
	// Chain is the light node (packages/chain/walletapi).
	Chain *ChainSummary `json:"chain,omitempty"`
}

// NetworkStats is the box's view of the OE network.
type NetworkStats struct {
	PeerID       string       `json:"peer_id"`
	Addrs        []string     `json:"addrs"`
	Bootstrap    string       `json:"bootstrap,omitempty"`
	Joined       bool         `json:"joined"`
	JoinedAt     time.Time    `json:"joined_at,omitzero"`
	RoutingTable int          `json:"routing_table"`
	Peers        []PeerStatus `json:"peers"`
	Direct       int64        `json:"direct"`        // open direct connections
	Relayed      int64        `json:"relayed"`       // open relayed connections
	DirectTotal  int64        `json:"direct_total"`  // since start
	RelayedTotal int64        `json:"relayed_total"` // since start
	DirectRatio  float64      `json:"direct_ratio"`  // direct_total / all, 1 when none yet
}

// PeerStatus is one open connection.
type PeerStatus struct {
	ID      string `json:"id"`
	Addr    string `json:"addr"`
	Relayed bool   `json:"relayed"`
}

// Friend is an entry of the friend book.
type Friend struct {
	ID        PeerID    `json:"id"`
	Name      string    `json:"name"`       // what this box calls the friend
	TheirName string    `json:"their_name"` // the name the friend's box gave itself
	Since     time.Time `json:"since"`
	Blocked   bool      `json:"blocked"`
	Addrs     []string  `json:"addrs,omitempty"`
	SigSelf   []byte    `json:"sig_self"`
	SigFriend []byte    `json:"sig_friend"`
}

// FriendStatus is a friend with its connection state (GET /v1/friends).
type FriendStatus struct {
	Friend
	Connected bool `json:"connected"`
	Relayed   bool `json:"relayed"`
}

// Invite is the answer of POST /v1/friends/invite.
type Invite struct {
	Code    string    `json:"code"` // short, for typing: resolved through the DHT
	URI     string    `json:"uri"`  // carries peer ID and addresses: works without the DHT
	Expires time.Time `json:"expires"`
}

// InviteRequest is the body of POST /v1/friends/invite.
type InviteRequest struct {
	TTL string `json:"ttl,omitempty"` // Go duration, default 15m
}

// AcceptRequest is the body of POST /v1/friends/accept.
type AcceptRequest struct {
	Invite string `json:"invite"` // short code or oe://friend URI
}

// FriendUpdate is the body of PATCH /v1/friends/{id}.
type FriendUpdate struct {
	Name    *string `json:"name,omitempty"`
	Blocked *bool   `json:"blocked,omitempty"`
}

// FriendRemoved is the answer of DELETE /v1/friends/{id}.
type FriendRemoved struct {
	Removed PeerID `json:"removed"`
}

// PeerAnswer is the answer of GET /v1/peers/{id}.
type PeerAnswer struct {
	ID        string   `json:"id"`
	Addrs     []string `json:"addrs"`
	Connected bool     `json:"connected"`
}

// HealthAnswer is the answer of GET /v1/health.
type HealthAnswer struct {
	Healthy bool           `json:"healthy"`
	Reports []HealthReport `json:"reports"`
}

// HealthReport is what one process on the box says about itself.
type HealthReport struct {
	Name     string    `json:"name"`
	Status   string    `json:"status"` // ok, not enabled, degraded, error
	Detail   string    `json:"detail,omitempty"`
	Version  string    `json:"version,omitempty"`
	Since    time.Time `json:"since"`
	PID      int       `json:"pid,omitempty"`
	RSSBytes int64     `json:"rss_bytes,omitempty"`
}

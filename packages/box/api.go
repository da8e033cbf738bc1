package box

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"oepc.dev/oepcos/packages/friends"
	"oepc.dev/oepcos/packages/health"
	"oepc.dev/oepcos/packages/localapi"
	"oepc.dev/oepcos/packages/p2p"
	"oepc.dev/oepcos/packages/version"
)

const maxBody = 64 << 10

// Status is the answer of GET /v1/status.
type Status struct {
	Name             string         `json:"name"`
	Version          string         `json:"version"`
	PeerID           string         `json:"peer_id"`
	Uptime           string         `json:"uptime"`
	Network          p2p.Stats      `json:"network"`
	Friends          []FriendStatus `json:"friends"`
	FriendsConnected int            `json:"friends_connected"`
}

// FriendStatus is a friend as the API shows it.
type FriendStatus struct {
	friends.Friend
	Connected bool `json:"connected"`
	Relayed   bool `json:"relayed"`
}

// HealthAnswer is the answer of GET /v1/health.
type HealthAnswer struct {
	Healthy bool            `json:"healthy"`
	Reports []health.Report `json:"reports"`
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

func (b *Box) routes(api *localapi.Server) {
	api.HandleFunc("GET /v1/status", b.handleStatus)
	api.HandleFunc("GET /v1/health", b.handleHealth)
	api.HandleFunc("POST /v1/friends/invite", b.handleInvite)
	api.HandleFunc("POST /v1/friends/accept", b.handleAccept)
	api.HandleFunc("GET /v1/friends", b.handleFriends)
	api.HandleFunc("PATCH /v1/friends/{id}", b.handleFriendUpdate)
	api.HandleFunc("DELETE /v1/friends/{id}", b.handleFriendRemove)
	api.HandleFunc("GET /v1/peers/{id}", b.handleFindPeer)
}

func (b *Box) friendStatuses() []FriendStatus {
	var out []FriendStatus
	for _, f := range b.Friends.List() {
		fs := FriendStatus{Friend: f}
		for _, c := range b.Node.Host.Network().ConnsToPeer(f.ID) {
			fs.Connected = true
			fs.Relayed = c.Stat().Limited
			if !fs.Relayed {
				break
			}
		}
		out = append(out, fs)
	}
	return out
}

func (b *Box) handleStatus(w http.ResponseWriter, r *http.Request) {
	st := Status{
		Name:    b.Cfg.Name,
		Version: version.Version,
		PeerID:  b.Node.Host.ID().String(),
		Uptime:  time.Since(b.Started).Truncate(time.Second).String(),
		Network: b.Node.Stats(),
		Friends: b.friendStatuses(),
	}
	for _, f := range st.Friends {
		if f.Connected {
			st.FriendsConnected++
		}
	}
	if st.Friends == nil {
		st.Friends = []FriendStatus{}
	}
	localapi.WriteJSON(w, http.StatusOK, st)
}

func (b *Box) handleHealth(w http.ResponseWriter, r *http.Request) {
	reps := []health.Report{b.selfReport()}
	b.mu.Lock()
	for _, rep := range b.healthy {
		reps = append(reps, rep)
	}
	b.mu.Unlock()
	reps = append(reps, collectRoles(r.Context(), b.Cfg)...)
	localapi.WriteJSON(w, http.StatusOK, HealthAnswer{Healthy: health.AllHealthy(reps), Reports: reps})
}

func (b *Box) handleInvite(w http.ResponseWriter, r *http.Request) {
	var req InviteRequest
	if r.ContentLength != 0 {
		if err := localapi.ReadJSON(r, maxBody, &req); err != nil {
			localapi.WriteError(w, http.StatusBadRequest, err)
			return
		}
	}
	var ttl time.Duration
	if req.TTL != "" {
		var err error
		if ttl, err = time.ParseDuration(req.TTL); err != nil || ttl <= 0 {
			localapi.WriteError(w, http.StatusBadRequest, fmt.Errorf("bad ttl %q", req.TTL))
			return
		}
	}
	inv, err := b.Friends.Invite(r.Context(), ttl)
	if err != nil {
		localapi.WriteError(w, http.StatusBadRequest, err)
		return
	}
	localapi.WriteJSON(w, http.StatusOK, inv)
}

func (b *Box) handleAccept(w http.ResponseWriter, r *http.Request) {
	var req AcceptRequest
	if err := localapi.ReadJSON(r, maxBody, &req); err != nil {
		localapi.WriteError(w, http.StatusBadRequest, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 45*time.Second)
	defer cancel()
	f, err := b.Friends.Accept(ctx, req.Invite)
	if err != nil {
		code := http.StatusBadGateway
		switch {
		case errors.Is(err, friends.ErrBadCode), errors.Is(err, friends.ErrSelf):
			code = http.StatusBadRequest
		case errors.Is(err, friends.ErrInviteExpired), errors.Is(err, friends.ErrInviteUsed):
			code = http.StatusGone
		case errors.Is(err, friends.ErrRefused):
			code = http.StatusForbidden
		case errors.Is(err, friends.ErrBusy):
			code = http.StatusServiceUnavailable
		}
		localapi.WriteError(w, code, err)
		return
	}
	localapi.WriteJSON(w, http.StatusOK, f)
}

func (b *Box) handleFriends(w http.ResponseWriter, r *http.Request) {
	fs := b.friendStatuses()
	if fs == nil {
		fs = []FriendStatus{}
	}
	localapi.WriteJSON(w, http.StatusOK, fs)
}

func (b *Box) lookupFriend(w http.ResponseWriter, r *http.Request) (friends.Friend, bool) {
	f, err := b.Friends.Lookup(r.PathValue("id"))
	if err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, friends.ErrNotFound) {
			code = http.StatusNotFound
		}
		localapi.WriteError(w, code, err)
		return f, false
	}
	return f, true
}

func (b *Box) handleFriendUpdate(w http.ResponseWriter, r *http.Request) {
	f, ok := b.lookupFriend(w, r)
	if !ok {
		return
	}
	var req FriendUpdate
	if err := localapi.ReadJSON(r, maxBody, &req); err != nil {
		localapi.WriteError(w, http.StatusBadRequest, err)
		return
	}
	if req.Name != nil {
		if err := b.Friends.Rename(f.ID, *req.Name); err != nil {
			localapi.WriteError(w, http.StatusBadRequest, err)
			return
		}
	}
	if req.Blocked != nil {
		if err := b.Friends.SetBlocked(f.ID, *req.Blocked); err != nil {
			localapi.WriteError(w, http.StatusInternalServerError, err)
			return
		}
		if *req.Blocked {
			// A blocked friend loses its open connections too.
			b.Node.Host.Network().ClosePeer(f.ID)
		}
		b.kickSweep()
	}
	f, _ = b.Friends.Get(f.ID)
	localapi.WriteJSON(w, http.StatusOK, f)
}

func (b *Box) handleFriendRemove(w http.ResponseWriter, r *http.Request) {
	f, ok := b.lookupFriend(w, r)
	if !ok {
		return
	}
	if err := b.Friends.Remove(r.Context(), f.ID); err != nil {
		localapi.WriteError(w, http.StatusInternalServerError, err)
		return
	}
	b.kickSweep()
	localapi.WriteJSON(w, http.StatusOK, map[string]string{"removed": f.ID.String()})
}

// PeerAnswer is the answer of GET /v1/peers/{id}.
type PeerAnswer struct {
	ID        string   `json:"id"`
	Addrs     []string `json:"addrs"`
	Connected bool     `json:"connected"`
}

func (b *Box) handleFindPeer(w http.ResponseWriter, r *http.Request) {
	id, err := peer.Decode(r.PathValue("id"))
	if err != nil {
		localapi.WriteError(w, http.StatusBadRequest, fmt.Errorf("bad peer ID: %w", err))
		return
	}
	ai, err := b.Node.FindPeer(r.Context(), id)
	if err != nil {
		localapi.WriteError(w, http.StatusNotFound, fmt.Errorf("peer not found in the OE network: %w", err))
		return
	}
	ans := PeerAnswer{ID: id.String(), Connected: b.Node.Host.Network().Connectedness(id) == network.Connected}
	for _, a := range ai.Addrs {
		ans.Addrs = append(ans.Addrs, a.String())
	}
	localapi.WriteJSON(w, http.StatusOK, ans)
}

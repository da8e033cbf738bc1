package box

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"oepc.dev/oepcos/packages/apitype"
	"oepc.dev/oepcos/packages/chain/app"
	"oepc.dev/oepcos/packages/friends"
	"oepc.dev/oepcos/packages/health"
	"oepc.dev/oepcos/packages/localapi"
	"oepc.dev/oepcos/packages/p2p"
	"oepc.dev/oepcos/packages/version"
)

const maxBody = 64 << 10

// The answers and bodies of the box's routes are packages/apitype's; the
// names here stay for the code that knew them.
type (
	Status        = apitype.Status
	FriendStatus  = apitype.FriendStatus
	HealthAnswer  = apitype.HealthAnswer
	InviteRequest = apitype.InviteRequest
	AcceptRequest = apitype.AcceptRequest
	FriendUpdate  = apitype.FriendUpdate
	PeerAnswer    = apitype.PeerAnswer
)

// The API's copy of the coin's unit must be chain/app's (a compile error
// otherwise).
var _ = [1]struct{}{}[app.BaseUnitsPerOEC-apitype.BaseUnitsPerOEC]

// apiFriend is f as the API shows it.
func apiFriend(f friends.Friend) apitype.Friend {
	return apitype.Friend{ID: apitype.PeerID(f.ID.String()), Name: f.Name, TheirName: f.TheirName, Since: f.Since,
		Blocked: f.Blocked, Addrs: f.Addrs, SigSelf: f.SigSelf, SigFriend: f.SigFriend}
}

// apiNetwork is st as the API shows it.
func apiNetwork(st p2p.Stats) apitype.NetworkStats {
	n := apitype.NetworkStats{PeerID: st.PeerID, Addrs: st.Addrs, Bootstrap: st.Bootstrap, Joined: st.Joined, JoinedAt: st.JoinedAt,
		RoutingTable: st.RoutingTable, Direct: st.Direct, Relayed: st.Relayed, DirectTotal: st.DirectTotal,
		RelayedTotal: st.RelayedTotal, DirectRatio: st.DirectRatio}
	for _, p := range st.Peers {
		n.Peers = append(n.Peers, apitype.PeerStatus{ID: p.ID, Addr: p.Addr, Relayed: p.Relayed})
	}
	return n
}

// apiReports are reps as the API shows them.
func apiReports(reps []health.Report) []apitype.HealthReport {
	out := make([]apitype.HealthReport, 0, len(reps))
	for _, r := range reps {
		out = append(out, apitype.HealthReport{Name: r.Name, Status: string(r.Status), Detail: r.Detail, Version: r.Version,
			Since: r.Since, PID: r.PID, RSSBytes: r.RSSBytes})
	}
	return out
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
		fs := FriendStatus{Friend: apiFriend(f)}
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
		Network: apiNetwork(b.Node.Stats()),
		Friends: b.friendStatuses(),
	}
	if b.wallet != nil {
		st.Chain = b.wallet.Summary()
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
	localapi.WriteJSON(w, http.StatusOK, HealthAnswer{Healthy: health.AllHealthy(reps), Reports: apiReports(reps)})
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
	localapi.WriteJSON(w, http.StatusOK, apitype.Invite{Code: inv.Code, URI: inv.URI, Expires: inv.Expires})
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
	localapi.WriteJSON(w, http.StatusOK, apiFriend(f))
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
	localapi.WriteJSON(w, http.StatusOK, apiFriend(f))
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
	localapi.WriteJSON(w, http.StatusOK, apitype.FriendRemoved{Removed: apitype.PeerID(f.ID.String())})
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

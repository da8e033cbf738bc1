package cloudapi

import (
	"net/http"

	"github.com/libp2p/go-libp2p/core/peer"

	"oepc.dev/oepcos/packages/apitype"
	"oepc.dev/oepcos/packages/localapi"
)

// The /v1/cloud/received routes: friends' pending deliveries and their
// quotas (see cloud's inbox.go).

func (a *API) deliveries(w http.ResponseWriter, r *http.Request) {
	def, friends, err := a.s.Deliveries()
	if err != nil {
		fail(w, err)
		return
	}
	out := apitype.Received{DefaultQuota: def, Friends: make([]apitype.FriendDeliveries, 0, len(friends))}
	for _, f := range friends {
		out.Friends = append(out.Friends, apitype.FriendDeliveries{Friend: apiPeer(f.Friend), Quota: f.Quota, OwnQuota: f.OwnQuota,
			PendingFiles: f.PendingFiles, PendingBytes: f.PendingBytes})
	}
	localapi.WriteJSON(w, http.StatusOK, out)
}

func (a *API) deliveryQuota(w http.ResponseWriter, r *http.Request) {
	var req apitype.QuotaRequest
	if !readBody(w, r, &req) {
		return
	}
	var p peer.ID
	if req.Friend != "" {
		var err error
		if p, err = a.s.ResolveFriend(req.Friend); err != nil {
			fail(w, err)
			return
		}
	}
	switch {
	case req.Default && p == "":
		badRequest(w, `"default" needs a friend`)
		return
	case req.Default == (req.Bytes != nil):
		badRequest(w, `give "bytes" or "default": true`)
		return
	case req.Bytes != nil && *req.Bytes < 0:
		badRequest(w, "a quota cannot be negative")
		return
	}
	bytes := int64(-1)
	if req.Bytes != nil {
		bytes = *req.Bytes
	}
	if err := a.s.SetDeliveryQuota(p, bytes); err != nil {
		fail(w, err)
		return
	}
	q, _ := a.s.DeliveryQuota(p) // p "": the default
	localapi.WriteJSON(w, http.StatusOK, apitype.QuotaAnswer{Friend: apiPeer(p), Quota: q})
}

package cloudapi

import (
	"net/http"

	"github.com/libp2p/go-libp2p/core/peer"

	"oepc.dev/oepcos/packages/localapi"
)

// The /v1/cloud/received routes: friends' pending deliveries and their
// quotas (see cloud's inbox.go).

func (a *api) deliveries(w http.ResponseWriter, r *http.Request) {
	def, friends, err := a.s.Deliveries()
	if err != nil {
		fail(w, err)
		return
	}
	localapi.WriteJSON(w, http.StatusOK, map[string]any{"default_quota": def, "friends": friends})
}

func (a *api) deliveryQuota(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Friend  string `json:"friend,omitempty"`
		Bytes   *int64 `json:"bytes,omitempty"`
		Default bool   `json:"default,omitempty"`
	}
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
	localapi.WriteJSON(w, http.StatusOK, map[string]any{"friend": p, "quota": q})
}

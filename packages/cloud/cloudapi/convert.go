package cloudapi

import (
	"github.com/libp2p/go-libp2p/core/peer"

	"oepc.dev/oepcos/packages/apitype"
	"oepc.dev/oepcos/packages/cloud"
	"oepc.dev/oepcos/packages/cloud/index"
)

// The cloud's own types as the API shows them (packages/apitype): the
// same JSON, without the libp2p and codec types.

func apiPeer(p peer.ID) apitype.PeerID {
	if p == "" {
		return ""
	}
	return apitype.PeerID(p.String())
}

func apiEntry(e *index.Entry) apitype.Entry {
	return apitype.Entry{Path: e.Path, ID: e.File.String(), Size: e.Size, K: e.K, M: e.M, Created: e.Created}
}

// listing is the window [offset, offset+limit) of a folder's items (all
// from offset when limit is 0).
func listing(dir string, items []index.Item, offset, limit int) apitype.Listing {
	l := apitype.Listing{Dir: dir, Total: len(items), Offset: offset, Items: []apitype.Item{}}
	if offset > len(items) {
		offset = len(items)
	}
	end := len(items)
	if limit > 0 && offset+limit < end {
		end = offset + limit
		l.Next = end
	}
	for _, it := range items[offset:end] {
		ai := apitype.Item{Name: it.Name, Path: it.Path, Dir: it.Dir, Size: it.Size, Created: it.Created}
		if !it.Dir {
			ai.ID = it.File.String()
		}
		l.Items = append(l.Items, ai)
	}
	return l
}

func apiHealth(h *cloud.Health) apitype.Health {
	out := apitype.Health{ID: h.File.String(), Path: h.Path, Size: h.Size, K: h.K, M: h.M, MinHealthy: h.MinHealthy,
		Readable: h.Readable, Complete: h.Complete, Segments: make([]apitype.SegmentHealth, 0, len(h.Segments)),
		Shards: map[string]int{}}
	for _, sg := range h.Segments {
		as := apitype.SegmentHealth{Index: sg.Index, Healthy: sg.Healthy, Shards: make([]apitype.ShardHealth, 0, len(sg.Shards))}
		for _, sh := range sg.Shards {
			as.Shards = append(as.Shards, apitype.ShardHealth{Index: sh.Index, ID: sh.ID.String(), Holder: apiPeer(sh.Holder), Name: sh.Name, State: sh.State})
			out.Shards[sh.State]++
		}
		out.Segments = append(out.Segments, as)
	}
	return out
}

// apiHosted is the hosted report (cloud.HostedReport from a HostedStore;
// another HostedLister's answer passes through as it is).
func apiHosted(v any) any {
	r, ok := v.(cloud.HostedReport)
	if !ok {
		return v
	}
	out := apitype.Hosted{Used: r.Used, Quota: r.Quota, Owners: make([]apitype.HostedOwner, 0, len(r.Owners)),
		Own: apitype.HostedOwn{Shards: r.Own.Shards, Bytes: r.Own.Bytes}}
	for _, o := range r.Owners {
		ao := apitype.HostedOwner{Owner: o.Owner, Shards: o.Shards, Bytes: o.Bytes, Since: o.Since, EvictAt: o.EvictAt}
		for _, b := range o.Boxes {
			ao.Boxes = append(ao.Boxes, apitype.HostedBox{Peer: apiPeer(b.Peer), Name: b.Name})
		}
		out.Owners = append(out.Owners, ao)
	}
	return out
}

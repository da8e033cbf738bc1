package cloudapi

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"oepc.dev/oepcos/packages/cloud"
	"oepc.dev/oepcos/packages/cloud/codec"
	"oepc.dev/oepcos/packages/cloud/index"
)

// asJSON is v's JSON decoded into generic values.
func asJSON(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// The apitype answers are the JSON the cloud's own types gave (what older
// clients and scripts read), field for field.
func TestAPITypesKeepTheJSON(t *testing.T) {
	p := peer.ID("\x00\x24\x08\x01\x12\x20abcdefghijklmnopqrstuvwxyz012345")
	file := codec.NewFileID()
	var sid codec.ShardID
	sid[0], sid[31] = 0xab, 0xcd
	now := time.Date(2026, 12, 2, 13, 0, 0, 0, time.UTC)

	e := &index.Entry{Path: "/a/b.jpg", File: file, Size: 42, K: 4, M: 2, Created: now}
	if got, want := asJSON(t, apiEntry(e)), asJSON(t, e); !reflect.DeepEqual(got, want) {
		t.Errorf("entry: %v, want %v", got, want)
	}
	h := &cloud.Health{File: file, Path: "/a/b.jpg", Size: 42, K: 4, M: 2, MinHealthy: 5, Readable: true,
		Segments: []cloud.SegmentHealth{{Index: 0, Healthy: 5, Shards: []cloud.ShardHealth{
			{Index: 0, ID: sid, Holder: p, Name: "bob", State: "ok"}, {Index: 1, ID: sid, State: "unplaced"}}}}}
	got := asJSON(t, apiHealth(h)).(map[string]any)
	if counts := got["shards"]; !reflect.DeepEqual(counts, map[string]any{"ok": 1.0, "unplaced": 1.0}) {
		t.Errorf("shard counts: %v", counts)
	}
	delete(got, "shards") // new: the counts per state
	if want := asJSON(t, h); !reflect.DeepEqual(any(got), want) {
		t.Errorf("health: %v, want %v", got, want)
	}
	r := cloud.HostedReport{Used: 10, Quota: 20, Owners: []cloud.HostedOwner{{Owner: "ff", Shards: 2, Bytes: 8, Since: now,
		Boxes: []cloud.HostedBox{{Peer: p, Name: "bob"}}}}}
	r.Own.Shards, r.Own.Bytes = 1, 2
	if got, want := asJSON(t, apiHosted(r)), asJSON(t, r); !reflect.DeepEqual(got, want) {
		t.Errorf("hosted: %v, want %v", got, want)
	}
	items := []index.Item{{Name: "d", Path: "/d", Dir: true}, {Name: "f", Path: "/f", Size: 3, File: file, Created: now}}
	l := asJSON(t, listing("/", items, 0, 0)).(map[string]any)
	if want := asJSON(t, items); !reflect.DeepEqual(l["items"], want) {
		t.Errorf("items: %v, want %v", l["items"], want)
	}
}

package cloudapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"oepc.dev/oepcos/packages/cloud"
	"oepc.dev/oepcos/packages/cloud/cloudtest"
	"oepc.dev/oepcos/packages/cloud/codec"
	"oepc.dev/oepcos/packages/cloud/index"
	"oepc.dev/oepcos/packages/cloud/keys"
	"oepc.dev/oepcos/packages/p2p/p2ptest"
	"oepc.dev/oepcos/packages/store"
)

const seg = codec.MinSegmentSize

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func openKV(t testing.TB) store.KV {
	t.Helper()
	// On disk: the in-memory badger refuses values over 1 KiB.
	kv, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kv.Close() })
	return kv
}

// testEnv is a cloud service whose holders are in-memory boxes.
type testEnv struct {
	s     *cloud.Service
	f     *cloudtest.Holders
	peers []peer.ID
}

func newEnv(t testing.TB, boxes int, mod func(*cloud.Config)) *testEnv {
	t.Helper()
	f, ps := cloudtest.NewHolders(boxes)
	cfg := cloud.Config{
		Holders:        f,
		Peers:          func() []peer.ID { return ps },
		KV:             openKV(t),
		Owner:          keys.New(),
		SegmentSize:    seg,
		RepairInterval: -1,
		BackupDelay:    -1,
		CallTimeout:    5 * time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := cloud.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &testEnv{s: s, f: f, peers: ps}
}

func (e *testEnv) put(t testing.TB, p string, data []byte, o cloud.PutOptions) *index.Entry {
	t.Helper()
	ent, err := e.s.Put(context.Background(), p, bytes.NewReader(data), o)
	if err != nil {
		t.Fatalf("put %s: %v", p, err)
	}
	return ent
}

// p2pBox is a box with a real host and cloud service; shards go to the
// shared in-memory holders keyed by the boxes' peer IDs.
type p2pBox struct {
	h host.Host
	s *cloud.Service
}

// newNet makes n boxes, all friends and connected.
func newNet(t testing.TB, n int) []*p2pBox {
	t.Helper()
	f, _ := cloudtest.NewHolders(0)
	var hosts []host.Host
	var ids []peer.ID
	for range n {
		h := p2ptest.Host(t)
		hosts = append(hosts, h)
		ids = append(ids, h.ID())
		f.Set(func() { f.Boxes[h.ID()] = map[codec.ShardID][]byte{} })
	}
	var boxes []*p2pBox
	for _, h := range hosts {
		s, err := cloud.New(cloud.Config{
			Host:           h,
			Holders:        f,
			Peers:          func() []peer.ID { return ids },
			IsFriend:       func(p peer.ID) bool { return p != h.ID() && slices.Contains(ids, p) },
			KV:             openKV(t),
			Owner:          keys.New(),
			SegmentSize:    seg,
			RepairInterval: -1,
			BackupDelay:    -1,
			CallTimeout:    10 * time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		boxes = append(boxes, &p2pBox{h: h, s: s})
	}
	for i, a := range hosts {
		for _, b := range hosts[i+1:] {
			p2ptest.Connect(t, a, b)
		}
	}
	return boxes
}

// apiCall calls s's local API handler.
func apiCall(t *testing.T, s *cloud.Service, method, path string, body any, want int) []byte {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req := httptest.NewRequest(method, path, rd)
	w := httptest.NewRecorder()
	Handler(s).ServeHTTP(w, req)
	if w.Code != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, w.Code, w.Body.Bytes(), want)
	}
	return w.Body.Bytes()
}

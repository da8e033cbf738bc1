package cloud

import (
	"bytes"
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"oepc.dev/oepcos/packages/cloud/cloudtest"
	"oepc.dev/oepcos/packages/cloud/codec"
	"oepc.dev/oepcos/packages/cloud/index"
	"oepc.dev/oepcos/packages/cloud/keys"
	"oepc.dev/oepcos/packages/store"
)

var _ Holders = (*cloudtest.Holders)(nil)

type testEnv struct {
	s     *Service
	f     *cloudtest.Holders
	peers []peer.ID
	kv    store.KV
}

func newEnvTB(t testing.TB) *testEnv { return newEnv(t, 6, nil) }

func newEnv(t testing.TB, boxes int, mod func(*Config)) *testEnv {
	t.Helper()
	// On disk: the in-memory badger refuses values over 1 KiB.
	kv, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kv.Close() })
	f, ps := cloudtest.NewHolders(boxes)
	env := &testEnv{f: f, peers: ps, kv: kv}
	cfg := Config{
		Holders:        f,
		Peers:          func() []peer.ID { return env.peers },
		KV:             kv,
		Owner:          keys.New(),
		SegmentSize:    codec.MinSegmentSize,
		RepairInterval: -1,
		BackupDelay:    -1,
		CallTimeout:    5 * time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	env.s = s
	return env
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func (e *testEnv) put(t testing.TB, p string, data []byte, o PutOptions) *index.Entry {
	t.Helper()
	ent, err := e.s.Put(context.Background(), p, bytes.NewReader(data), o)
	if err != nil {
		t.Fatalf("put %s: %v", p, err)
	}
	return ent
}

func (e *testEnv) get(t testing.TB, ref string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := e.s.Get(context.Background(), ref, &buf); err != nil {
		t.Fatalf("get %s: %v", ref, err)
	}
	return buf.Bytes()
}

package cloud

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	p2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"oepc.dev/oepcos/packages/cloud/codec"
	"oepc.dev/oepcos/packages/cloud/keys"
	"oepc.dev/oepcos/packages/store"
)

// fakeHolders is an in-memory set of holder boxes for unit tests of the
// pipeline; the libp2p path is tested in e2e_test.go with real hosts.
type fakeHolders struct {
	mu       sync.Mutex
	boxes    map[peer.ID]map[codec.ShardID][]byte
	down     map[peer.ID]bool
	putsLeft map[peer.ID]int // fail puts after this many (if set)
	delay    map[peer.ID]time.Duration
	gets     map[peer.ID]int
}

var errDown = errors.New("fake: box down")

func newFake(n int) (*fakeHolders, []peer.ID) {
	f := &fakeHolders{boxes: map[peer.ID]map[codec.ShardID][]byte{}, down: map[peer.ID]bool{},
		putsLeft: map[peer.ID]int{}, delay: map[peer.ID]time.Duration{}, gets: map[peer.ID]int{}}
	var ps []peer.ID
	for i := range n {
		sk, _, err := p2pcrypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			panic(err)
		}
		p, _ := peer.IDFromPrivateKey(sk)
		_ = i
		f.boxes[p] = map[codec.ShardID][]byte{}
		ps = append(ps, p)
	}
	return f, ps
}

func (f *fakeHolders) wait(ctx context.Context, p peer.ID) error {
	f.mu.Lock()
	d, down := f.delay[p], f.down[p]
	f.mu.Unlock()
	if down {
		return errDown
	}
	if d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (f *fakeHolders) Put(ctx context.Context, p peer.ID, id codec.ShardID, data []byte) error {
	if err := f.wait(ctx, p); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if n, ok := f.putsLeft[p]; ok {
		if n == 0 {
			return errors.New("fake: disk full")
		}
		f.putsLeft[p] = n - 1
	}
	if codec.SumShard(data) != id {
		return errors.New("fake: hash mismatch")
	}
	f.boxes[p][id] = bytes.Clone(data)
	return nil
}

func (f *fakeHolders) Get(ctx context.Context, p peer.ID, id codec.ShardID, dst []byte) ([]byte, error) {
	if err := f.wait(ctx, p); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets[p]++
	d, ok := f.boxes[p][id]
	if !ok {
		return nil, errors.New("fake: not found")
	}
	if codec.SumShard(d) != id {
		return nil, fmt.Errorf("fake: %w", codec.ErrBadShard)
	}
	return append(dst[:0], d...), nil
}

func (f *fakeHolders) Has(ctx context.Context, p peer.ID, ids []codec.ShardID) ([]bool, error) {
	if err := f.wait(ctx, p); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]bool, len(ids))
	for i, id := range ids {
		_, out[i] = f.boxes[p][id]
	}
	return out, nil
}

func (f *fakeHolders) Delete(ctx context.Context, p peer.ID, id codec.ShardID) error {
	if err := f.wait(ctx, p); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.boxes[p], id)
	return nil
}

func (f *fakeHolders) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, b := range f.boxes {
		n += len(b)
	}
	return n
}

func (f *fakeHolders) set(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
}

type testEnv struct {
	s     *Service
	f     *fakeHolders
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
	f, ps := newFake(boxes)
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

func (e *testEnv) put(t testing.TB, p string, data []byte, o PutOptions) *Entry {
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

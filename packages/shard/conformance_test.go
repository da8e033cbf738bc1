package shard

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

// holder is a shard holder as one owner sees it; the local Store and a
// remote holder reached through Client must behave the same.
type holder interface {
	Put(ctx context.Context, id ID, data []byte) error
	Get(ctx context.Context, id ID) ([]byte, error)
	Has(ctx context.Context, ids []ID) ([]bool, error)
	Delete(ctx context.Context, id ID) error
}

// holderEnv is one holder seen by two owners, with its quota knob.
type holderEnv struct {
	a, b     holder
	setQuota func(int64)
}

// runConformance is the contract every holder satisfies.
func runConformance(t *testing.T, newEnv func(t *testing.T, quota int64) holderEnv) {
	ctx := context.Background()
	t.Run("RoundTrip", func(t *testing.T) {
		e := newEnv(t, 1<<20)
		data := randBytes(t, 12345)
		id := Sum(data)
		if err := e.a.Put(ctx, id, data); err != nil {
			t.Fatal(err)
		}
		if err := e.a.Put(ctx, id, data); err != nil {
			t.Fatalf("idempotent Put: %v", err)
		}
		got, err := e.b.Get(ctx, id)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("Get: %v", err)
		}
		have, err := e.b.Has(ctx, []ID{Sum(nil), id})
		if err != nil || len(have) != 2 || have[0] || !have[1] {
			t.Fatalf("Has = %v, %v", have, err)
		}
		if err := e.a.Delete(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, err := e.a.Get(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get after Delete: %v", err)
		}
		if err := e.a.Delete(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Delete after Delete: %v", err)
		}
	})
	t.Run("Missing", func(t *testing.T) {
		e := newEnv(t, 1<<20)
		if _, err := e.a.Get(ctx, Sum([]byte("nope"))); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get missing: %v", err)
		}
	})
	t.Run("HashMismatch", func(t *testing.T) {
		e := newEnv(t, 1<<20)
		data := randBytes(t, 1000)
		if err := e.a.Put(ctx, Sum([]byte("other")), data); !errors.Is(err, ErrHashMismatch) {
			t.Fatalf("Put with wrong ID: %v", err)
		}
		if have, err := e.a.Has(ctx, []ID{Sum([]byte("other"))}); err != nil || have[0] {
			t.Fatalf("Has = %v, %v", have, err)
		}
	})
	t.Run("Ownership", func(t *testing.T) {
		e := newEnv(t, 1<<20)
		data := randBytes(t, 1000)
		id := Sum(data)
		if err := e.a.Put(ctx, id, data); err != nil {
			t.Fatal(err)
		}
		if err := e.b.Delete(ctx, id); !errors.Is(err, ErrNotOwner) {
			t.Fatalf("Delete by non-owner: %v", err)
		}
		if err := e.b.Put(ctx, id, data); err != nil {
			t.Fatal(err)
		}
		if err := e.a.Delete(ctx, id); err != nil {
			t.Fatal(err)
		}
		if have, _ := e.b.Has(ctx, []ID{id}); !have[0] {
			t.Fatal("shard gone while b still references it")
		}
		if err := e.b.Delete(ctx, id); err != nil {
			t.Fatal(err)
		}
		if have, _ := e.b.Has(ctx, []ID{id}); have[0] {
			t.Fatal("shard kept after its last owner deleted it")
		}
	})
	t.Run("Quota", func(t *testing.T) {
		e := newEnv(t, 10_000)
		a, b := randBytes(t, 8000), randBytes(t, 8000)
		if err := e.a.Put(ctx, Sum(a), a); err != nil {
			t.Fatal(err)
		}
		if err := e.b.Put(ctx, Sum(b), b); !errors.Is(err, ErrOverQuota) {
			t.Fatalf("Put over quota: %v", err)
		}
		e.setQuota(16_000)
		if err := e.b.Put(ctx, Sum(b), b); err != nil {
			t.Fatalf("Put after raising quota: %v", err)
		}
		e.setQuota(0)
		if err := e.a.Put(ctx, Sum([]byte{1}), []byte{1}); !errors.Is(err, ErrOverQuota) {
			t.Fatalf("Put after lowering quota: %v", err)
		}
	})
	t.Run("TooLarge", func(t *testing.T) {
		e := newEnv(t, 1<<30)
		big := make([]byte, MaxShardSize+1)
		if err := e.a.Put(ctx, Sum(big), big); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("Put too large: %v", err)
		}
	})
}

type localHolder struct {
	s     *Store
	owner Owner
}

func (l localHolder) Put(_ context.Context, id ID, data []byte) error {
	return l.s.Put(l.owner, id, bytes.NewReader(data), int64(len(data)))
}
func (l localHolder) Get(_ context.Context, id ID) ([]byte, error) { return l.s.Get(id) }
func (l localHolder) Has(_ context.Context, ids []ID) ([]bool, error) {
	out := make([]bool, len(ids))
	for i, id := range ids {
		var err error
		if out[i], err = l.s.Has(id); err != nil {
			return nil, err
		}
	}
	return out, nil
}
func (l localHolder) Delete(_ context.Context, id ID) error { return l.s.Delete(l.owner, id) }

type remoteHolder struct {
	c *Client
	n *testNet
}

func (r remoteHolder) Put(ctx context.Context, id ID, data []byte) error {
	return r.c.Put(ctx, r.n.id(), id, data)
}
func (r remoteHolder) Get(ctx context.Context, id ID) ([]byte, error) {
	return r.c.Get(ctx, r.n.id(), id)
}
func (r remoteHolder) Has(ctx context.Context, ids []ID) ([]bool, error) {
	return r.c.Has(ctx, r.n.id(), ids)
}
func (r remoteHolder) Delete(ctx context.Context, id ID) error {
	return r.c.Delete(ctx, r.n.id(), id)
}

func TestConformanceStore(t *testing.T) {
	runConformance(t, func(t *testing.T, quota int64) holderEnv {
		s := newTestStore(t, quota)
		return holderEnv{
			a:        localHolder{s.Store, newOwner(t)},
			b:        localHolder{s.Store, newOwner(t)},
			setQuota: s.SetQuota,
		}
	})
}

func TestConformanceRemote(t *testing.T) {
	runConformance(t, func(t *testing.T, quota int64) holderEnv {
		n := newTestNet(t, quota, ServerOptions{})
		return holderEnv{a: remoteHolder{n.alice, n}, b: remoteHolder{n.bob, n}, setQuota: n.st.SetQuota}
	})
}

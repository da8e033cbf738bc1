// Package storetest is the conformance suite every store.KV must pass.
package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"oepc.dev/oepcos/packages/store"
)

// Run checks the KV contract on an empty kv.
func Run(t *testing.T, kv store.KV) {
	t.Helper()
	if _, err := kv.Get([]byte("missing")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get(missing) = %v, want ErrNotFound", err)
	}
	if err := kv.Put([]byte("a/1"), []byte("one")); err != nil {
		t.Fatal(err)
	}
	v, err := kv.Get([]byte("a/1"))
	if err != nil || string(v) != "one" {
		t.Fatalf("Get(a/1) = %q, %v", v, err)
	}
	v[0] = 'X' // the returned slice must be the caller's own
	if v2, _ := kv.Get([]byte("a/1")); string(v2) != "one" {
		t.Fatalf("Get returned an aliased slice: %q", v2)
	}
	for i := 5; i >= 2; i-- {
		if err := kv.Put([]byte(fmt.Sprintf("a/%d", i)), []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := kv.Put([]byte("b/1"), []byte("other")); err != nil {
		t.Fatal(err)
	}
	var keys []string
	err = kv.Scan([]byte("a/"), func(k, v []byte) error {
		keys = append(keys, string(k))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := "a/1 a/2 a/3 a/4 a/5"; fmt.Sprint(keys) != "["+want+"]" {
		t.Fatalf("Scan(a/) = %v, want [%s]", keys, want)
	}
	stop := errors.New("stop")
	n := 0
	if err := kv.Scan([]byte("a/"), func(k, v []byte) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Fatalf("Scan did not stop on error: n=%d err=%v", n, err)
	}
	if err := kv.Delete([]byte("a/1")); err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete([]byte("never")); err != nil {
		t.Fatalf("Delete(missing) = %v", err)
	}
	if _, err := kv.Get([]byte("a/1")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get after Delete = %v", err)
	}
	// A failing batch applies nothing.
	boom := errors.New("boom")
	err = kv.Batch(func(b *store.Batch) error {
		b.Put([]byte("c/1"), []byte("x"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Batch error = %v", err)
	}
	if _, err := kv.Get([]byte("c/1")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("failed batch left a write: %v", err)
	}
	key := []byte("c/2")
	err = kv.Batch(func(b *store.Batch) error {
		b.Put(key, []byte("y"))
		b.Delete([]byte("a/2"))
		key[0] = 'z' // the batch must have copied its key
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := kv.Get([]byte("c/2")); err != nil || !bytes.Equal(v, []byte("y")) {
		t.Fatalf("batch put = %q, %v", v, err)
	}
	if _, err := kv.Get([]byte("a/2")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("batch delete did not apply: %v", err)
	}
	var got struct{ N int }
	if err := store.PutJSON(kv, []byte("j"), struct{ N int }{7}); err != nil {
		t.Fatal(err)
	}
	if err := store.GetJSON(kv, []byte("j"), &got); err != nil || got.N != 7 {
		t.Fatalf("GetJSON = %+v, %v", got, err)
	}
	if err := kv.Put([]byte("bad"), []byte("{")); err != nil {
		t.Fatal(err)
	}
	if err := store.GetJSON(kv, []byte("bad"), &got); err == nil {
		t.Fatal("GetJSON of invalid JSON did not fail")
	}
	t.Run("large batches", func(t *testing.T) { runLarge(t, kv) })
}

// runLarge checks the batch limits and store.Chunked with more writes
// than one transaction holds. It uses keys under "big/".
func runLarge(t *testing.T, kv store.KV) {
	count := func(prefix string) int {
		n := 0
		if err := kv.Scan([]byte(prefix), func(k, v []byte) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// A batch at the limits fits, with many small writes or fewer values
	// of up to 1 KiB (which a KV may count in full).
	for _, ops := range []int{store.MaxBatchOps, 250} {
		per := store.MaxBatchBytes/ops - 16 // key and value of one write
		err := kv.Batch(func(b *store.Batch) error {
			for i := range ops {
				k := fmt.Appendf(nil, "big/limit/%06d", i)
				b.Put(k, bytes.Repeat([]byte{'v'}, per-len(k)))
			}
			return nil
		})
		if err != nil {
			t.Fatalf("a batch of %d writes within the limits: %v", ops, err)
		}
		if n := count("big/limit/"); n != ops {
			t.Fatalf("batch at the limits applied %d of %d writes", n, ops)
		}
		if err := store.Chunked(kv, func(b *store.Batch) error {
			for i := range ops {
				b.Delete(fmt.Appendf(nil, "big/limit/%06d", i))
				b.Cut()
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}

	// Far more than one transaction: one Batch applies all or nothing;
	// Chunked applies all.
	const n = 20 * store.MaxBatchOps
	put := func(b *store.Batch, cut bool) error {
		for i := range n {
			b.Put(fmt.Appendf(nil, "big/%06d", i), []byte("value of some length"))
			if cut {
				b.Cut()
			}
		}
		return nil
	}
	if err := kv.Batch(func(b *store.Batch) error { return put(b, false) }); err == nil {
		if c := count("big/"); c != n {
			t.Fatalf("an oversized batch applied %d of %d writes", c, n)
		}
	} else if !errors.Is(err, store.ErrBatchTooLarge) {
		t.Fatalf("oversized Batch = %v, want ErrBatchTooLarge", err)
	} else if c := count("big/"); c != 0 {
		t.Fatalf("a failed oversized batch applied %d writes", c)
	}
	// Chunked without cuts is one unit: all or nothing, like Batch.
	if err := store.Chunked(kv, func(b *store.Batch) error { return put(b, false) }); err != nil && !errors.Is(err, store.ErrBatchTooLarge) {
		t.Fatalf("Chunked of one oversized unit = %v", err)
	} else if c := count("big/"); c != 0 && c != n {
		t.Fatalf("Chunked split a unit: %d of %d writes", c, n)
	}
	boom := errors.New("boom")
	if err := store.Chunked(kv, func(b *store.Batch) error { put(b, true); return boom }); !errors.Is(err, boom) {
		t.Fatalf("Chunked error = %v", err)
	}
	if err := store.Chunked(kv, func(b *store.Batch) error { return put(b, true) }); err != nil {
		t.Fatalf("Chunked of %d writes: %v", n, err)
	}
	if c := count("big/"); c != n {
		t.Fatalf("Chunked applied %d of %d writes", c, n)
	}
	// Later writes win over earlier ones in other transactions.
	err := store.Chunked(kv, func(b *store.Batch) error {
		b.Put([]byte("big/order"), []byte("1"))
		b.Cut()
		for i := range n {
			b.Delete(fmt.Appendf(nil, "big/%06d", i))
			b.Cut()
		}
		b.Put([]byte("big/order"), []byte("2"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := kv.Get([]byte("big/order")); err != nil || string(v) != "2" {
		t.Fatalf("big/order = %q, %v; want the last write", v, err)
	}
	if c := count("big/"); c != 1 {
		t.Fatalf("%d keys left after the chunked delete", c)
	}

	// A failure part way leaves whole units, and only a prefix of them.
	failing := &failAfter{KV: kv, left: 3}
	err = store.Chunked(failing, func(b *store.Batch) error {
		for i := range n / 3 {
			for _, part := range []string{"a", "b", "c"} {
				b.Put(fmt.Appendf(nil, "big/unit/%06d/%s", i, part), bytes.Repeat([]byte{'u'}, 40+i%300))
			}
			b.Cut()
		}
		return nil
	})
	if !errors.Is(err, errInjected) {
		t.Fatalf("Chunked through a failing KV = %v", err)
	}
	parts := map[int]int{}
	kv.Scan([]byte("big/unit/"), func(k, v []byte) error {
		var i int
		fmt.Sscanf(string(k), "big/unit/%06d/", &i)
		parts[i]++
		return nil
	})
	if len(parts) == 0 || len(parts) == n/3 {
		t.Fatalf("%d of %d units applied; want some, not all", len(parts), n/3)
	}
	for i := range len(parts) {
		if parts[i] != 3 {
			t.Fatalf("unit %d applied %d of 3 writes (applied units: %d)", i, parts[i], len(parts))
		}
	}
}

var errInjected = errors.New("storetest: injected failure")

// failAfter fails every Batch after the first left ones, as a crash would.
type failAfter struct {
	store.KV
	left int
}

func (f *failAfter) Batch(fn func(*store.Batch) error) error {
	if f.left == 0 {
		return errInjected
	}
	f.left--
	return f.KV.Batch(fn)
}

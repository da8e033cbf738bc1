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
}

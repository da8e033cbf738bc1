package store_test

import (
	"testing"

	"oepc.dev/oepcos/packages/store"
	"oepc.dev/oepcos/packages/store/storetest"
)

func TestBadgerConformance(t *testing.T) {
	db, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	storetest.Run(t, db)
}

func TestReopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Put([]byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, err := db.Get([]byte("k")); err != nil || string(v) != "v" {
		t.Fatalf("after reopen Get = %q, %v", v, err)
	}
}

// The limits every KV promises must sit inside badger's, as Open sizes
// them (badger adds 10 bytes a write, a little less than ours).
func TestBatchLimitsWithinBadger(t *testing.T) {
	db, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	b := db.Badger()
	if store.MaxBatchOps >= int(b.MaxBatchCount()) || store.MaxBatchBytes >= b.MaxBatchSize() {
		t.Fatalf("store limits %d writes, %d bytes; badger's %d, %d", store.MaxBatchOps, store.MaxBatchBytes, b.MaxBatchCount(), b.MaxBatchSize())
	}
	t.Logf("store limits %d writes, %d bytes; badger's %d, %d", store.MaxBatchOps, store.MaxBatchBytes, b.MaxBatchCount(), b.MaxBatchSize())
}
